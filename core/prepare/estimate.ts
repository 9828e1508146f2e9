/** The pre-flight estimate: tokens, cost and run time of a run before any spend. */
import { costUsd, priceFor, pricesAsOf } from '../cost';
import { contextWindow } from '../models';
import { countTokens, tokenizerFor, type TokenizerName } from '../tokens';

export interface EstimateConfig {
	readonly model: string;
	/** Expected completion tokens per item (the answer's size, not max tokens). @default 100 */
	readonly outputTokensPerItem: number;
	/** Sent with every request; its tokens are added to each item's input. */
	readonly systemPrompt?: string;
	/** Requests per minute allowed (0 or absent: no limit). */
	readonly rpm?: number;
	/** Tokens per minute allowed, input + output (0 or absent: no limit). */
	readonly tpm?: number;
	/** With `avgLatencyMs`: the time `concurrency` parallel requests need. */
	readonly concurrency?: number;
	readonly avgLatencyMs?: number;
	readonly priceOverrides?: Readonly<
		Record<string, { inputPer1M: number; outputPer1M: number; batchDiscount?: number }>
	>;
	/** Include every item's token count. @default false */
	readonly perItem?: boolean;
	/** Each item's attached files' tokens (core/documents-tokens.ts), by input position. */
	readonly fileTokensPerItem?: readonly number[];
}

export interface Estimate {
	model: string;
	tokenizer: TokenizerName;
	items: number;
	tokens: {
		inputTotal: number;
		inputMean: number;
		inputMax: number;
		systemPerRequest: number;
		/** Of `inputTotal`: the attached files (PDF pages, images), by the provider's rule. */
		files?: number;
		outputPerItem: number;
		outputTotal: number;
		total: number;
	};
	cost: {
		currency: 'USD';
		known: boolean;
		realtimeUsd: number | null;
		/** At the provider's batch-API price; null when there is none. */
		batchUsd: number | null;
		inputPer1M: number | null;
		outputPer1M: number | null;
		batchDiscount: number | null;
		pricesAsOf: string;
	};
	time: {
		seconds: number | null;
		minutes: number | null;
		boundBy: 'rpm' | 'tpm' | 'concurrency' | null;
		rpm: number | null;
		tpm: number | null;
	};
	contextWindow: number;
	itemsOverContextWindow: number;
	summary: string;
	perItem?: Array<{ index: number; inputTokens: number }>;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

type Bound = [NonNullable<Estimate['time']['boundBy']>, number];

/** The limit that takes longest to send `items` requests of `tokens` in all, and its seconds. */
function slowestBound(config: EstimateConfig, items: number, tokens: number): Bound | undefined {
	const bounds: Bound[] = [];
	if (config.rpm && config.rpm > 0) bounds.push(['rpm', (items / config.rpm) * 60]);
	if (config.tpm && config.tpm > 0) bounds.push(['tpm', (tokens / config.tpm) * 60]);
	const { concurrency, avgLatencyMs } = config;
	if (concurrency && concurrency > 0 && avgLatencyMs && avgLatencyMs > 0)
		bounds.push(['concurrency', (Math.ceil(items / concurrency) * avgLatencyMs) / 1000]);
	return bounds.reduce<Bound | undefined>(
		(a, b) => (a === undefined || b[1] > a[1] ? b : a),
		undefined,
	);
}

/** Tokens, cost and run time of sending `texts` (one request per item) to `config.model`. */
export function estimateRun(texts: readonly string[], config: EstimateConfig): Estimate {
	const system = config.systemPrompt ? countTokens(config.systemPrompt, config.model) : 0;
	const files = config.fileTokensPerItem;
	const perItem = texts.map(
		(text, i) => countTokens(text, config.model) + system + (files?.[i] ?? 0),
	);
	const filesTotal = files ? files.reduce((a, b) => a + b, 0) : 0;
	const inputTotal = perItem.reduce((a, b) => a + b, 0);
	const outputTotal = texts.length * config.outputTokensPerItem;
	const window = contextWindow(config.model);
	const over = perItem.filter((t) => t + config.outputTokensPerItem > window).length;

	const price = priceFor(config.model, config.priceOverrides);
	const usage = { inputTokens: inputTotal, outputTokens: outputTotal };
	const realtime = price
		? (costUsd(config.model, usage, { overrides: config.priceOverrides }) ?? null)
		: null;
	const batch =
		price?.batchDiscount !== undefined
			? (costUsd(config.model, usage, { batch: true, overrides: config.priceOverrides }) ?? null)
			: null;

	const slowest = slowestBound(config, texts.length, inputTotal + outputTotal);
	const seconds = slowest ? round(slowest[1], 1) : null;

	const money = (usd: number | null) =>
		usd === null ? 'unknown' : `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
	const parts = [
		`${texts.length} items, ${inputTotal} input + ~${outputTotal} output tokens on ${config.model}`,
		`cost ${money(realtime)} realtime${batch !== null ? `, ${money(batch)} via batch API` : ''}`,
		seconds === null
			? 'time: no RPM/TPM limit given'
			: `about ${round(seconds / 60, 1)} min (bound by ${slowest?.[0]})`,
	];
	if (over > 0) parts.push(`${over} item(s) exceed the ${window}-token context window`);

	const estimate: Estimate = {
		model: config.model,
		tokenizer: tokenizerFor(config.model),
		items: texts.length,
		tokens: {
			inputTotal,
			inputMean: texts.length === 0 ? 0 : round(inputTotal / texts.length, 1),
			inputMax: perItem.reduce((a, b) => Math.max(a, b), 0),
			systemPerRequest: system,
			...(files ? { files: filesTotal } : {}),
			outputPerItem: config.outputTokensPerItem,
			outputTotal,
			total: inputTotal + outputTotal,
		},
		cost: {
			currency: 'USD',
			known: price !== undefined,
			realtimeUsd: realtime,
			batchUsd: batch,
			inputPer1M: price?.inputPer1M ?? null,
			outputPer1M: price?.outputPer1M ?? null,
			batchDiscount: price?.batchDiscount ?? null,
			pricesAsOf,
		},
		time: {
			seconds,
			minutes: seconds === null ? null : round(seconds / 60, 2),
			boundBy: slowest?.[0] ?? null,
			rpm: config.rpm && config.rpm > 0 ? config.rpm : null,
			tpm: config.tpm && config.tpm > 0 ? config.tpm : null,
		},
		contextWindow: window,
		itemsOverContextWindow: over,
		summary: `${parts.join('; ')}.`,
	};
	if (config.perItem)
		estimate.perItem = perItem.map((inputTokens, index) => ({ index, inputTokens }));
	return estimate;
}
