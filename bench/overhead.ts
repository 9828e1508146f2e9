/**
 * (b) Engine overhead: client CPU per item of the engine (BatchRunner + limiter + the real
 * openai provider, given a cancel signal as the node gives it n8n's) against a bare SDK +
 * p-limit loop, both against a zero-latency sandbox in another process (so only the
 * client's CPU is in `process.cpuUsage`).
 *
 * Both send the same request (model, one user message, max_tokens) with the same
 * concurrency. Requests are built before the clock starts; a GC runs before each round so
 * one contender's garbage is not collected on the other's time. After a warm-up of each,
 * rounds alternate (ABBA, so neither always goes first) and the median per contender is
 * reported. The ratio is the median of the per-round ratios: the two halves of a round run
 * seconds apart, so a machine busy with other work inflates both alike, where a ratio of
 * medians can pair a quiet engine round with a busy bare one.
 */
import OpenAI from 'openai';
import pLimit from 'p-limit';

import { systemClock } from '../core/clock';
import { privateFlow } from '../core/call/limiter/in-process';
import { createProvider } from '../core/call/providers';
import { BatchRunner, type RunItem } from '../core/call/runner';
import { API_KEY, gc, MAX_TOKENS, median, MODEL, spawnSandbox, ticketText } from './common';

const CONCURRENCY = 16;

export interface OverheadResult {
	items: number;
	rounds: number;
	/** Median client CPU (user + system) µs per item. */
	engineUsPerItem: number;
	bareUsPerItem: number;
	/** Median over rounds of engine ÷ bare. */
	ratio: number;
	/** Smallest and largest per-round ratio: the spread the machine's load put on it. */
	ratioRange: [number, number];
	/** median(engine) ÷ median(bare), for comparison. */
	ratioOfMedians: number;
	/** Reference: the bare loop passing a signal + timeout per call, as the engine does. */
	bareSignalUsPerItem: number;
	/** Median over rounds of (bare + signal) ÷ bare. */
	signalRatio: number;
	engineRounds: number[];
	bareRounds: number[];
}

function runItems(n: number): RunItem[] {
	return Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `r${i}`,
		request: { model: MODEL, prompt: ticketText(i), maxTokens: MAX_TOKENS },
		inputTokens: 30,
		promptHash: `h${i}`,
	}));
}

async function engineRound(baseUrl: string, items: RunItem[]): Promise<number> {
	const runner = new BatchRunner({
		provider: createProvider('openai', { apiKey: API_KEY, baseUrl }),
		// Very high but finite: the bucket arithmetic runs as it does in production.
		flow: privateFlow({ rpm: 1e9, tpm: 1e12 }, systemClock),
		clock: systemClock,
		concurrency: CONCURRENCY,
		timeoutMs: 60_000,
		// Stands in for n8n's execution cancel signal, which the node always passes.
		signal: new AbortController().signal,
	});
	const outcomes = await runner.run(items);
	const failed = outcomes.filter((o) => !o.ok).length;
	if (failed > 0) throw new Error(`engine: ${failed} items failed`);
	return outcomes.length;
}

/**
 * The bare loop. With `cancellable`, each call also gets an AbortSignal and a timeout, as
 * the engine's provider passes them: a reference row showing what cancellation support
 * costs inside the SDK (it composes `AbortSignal.any` per request when given a signal).
 */
async function bareRound(
	baseUrl: string,
	prompts: string[],
	cancellable: boolean,
): Promise<number> {
	const client = new OpenAI({ apiKey: API_KEY, baseURL: baseUrl, maxRetries: 0 });
	const limit = pLimit(CONCURRENCY);
	const stop = new AbortController();
	const options = cancellable ? { signal: stop.signal, timeout: 60_000 } : undefined;
	const res = await Promise.all(
		prompts.map((content) =>
			limit(() =>
				client.chat.completions.create(
					{ model: MODEL, messages: [{ role: 'user', content }], max_tokens: MAX_TOKENS },
					options,
				),
			),
		),
	);
	return res.length;
}

async function cpuPerItem(n: number, fn: () => Promise<number>): Promise<number> {
	gc();
	const before = process.cpuUsage();
	const done = await fn();
	const d = process.cpuUsage(before);
	if (done !== n) throw new Error(`expected ${n} answers, got ${done}`);
	return (d.user + d.system) / n;
}

type Contender = 'engine' | 'bare' | 'bareSignal';

export async function measureOverhead(
	items: number,
	rounds: number,
	log: (line: string) => void,
): Promise<OverheadResult> {
	log(
		`(b) engine overhead: ${rounds} alternating rounds × ${items} items each, zero latency, concurrency ${CONCURRENCY}`,
	);
	const sandbox = await spawnSandbox(['--seed', '1']);
	try {
		const baseUrl = `${sandbox.url}/v1`;
		const work = runItems(items);
		const prompts = work.map((w) => w.request.prompt);
		const run: Record<Contender, () => Promise<number>> = {
			engine: () => engineRound(baseUrl, work),
			bare: () => bareRound(baseUrl, prompts, false),
			bareSignal: () => bareRound(baseUrl, prompts, true),
		};
		const names = Object.keys(run) as Contender[];
		// Warm-up: JIT, the SDK's lazy modules and keep-alive sockets for all.
		for (let w = 0; w < 2; w++) for (const c of names) await cpuPerItem(items, run[c]);
		const us: Record<Contender, number[]> = { engine: [], bare: [], bareSignal: [] };
		for (let r = 0; r < rounds; r++) {
			// Reverse the order every other round so drift (load, sockets) hits all alike.
			const order = r % 2 === 0 ? names : [...names].reverse();
			for (const c of order) us[c].push(await cpuPerItem(items, run[c]));
			log(
				`    round ${r + 1}: engine ${us.engine[r].toFixed(0)} µs/item, bare ${us.bare[r].toFixed(0)}, ` +
					`bare + signal ${us.bareSignal[r].toFixed(0)}; ratio ${(us.engine[r] / us.bare[r]).toFixed(3)}`,
			);
		}
		const e = median(us.engine);
		const b = median(us.bare);
		const ratios = us.engine.map((x, i) => x / us.bare[i]);
		return {
			items,
			rounds,
			engineUsPerItem: e,
			bareUsPerItem: b,
			bareSignalUsPerItem: median(us.bareSignal),
			ratio: median(ratios),
			ratioRange: [Math.min(...ratios), Math.max(...ratios)],
			ratioOfMedians: e / b,
			signalRatio: median(us.bareSignal.map((x, i) => x / us.bare[i])),
			engineRounds: us.engine,
			bareRounds: us.bare,
		};
	} finally {
		await sandbox.close();
	}
}
