/**
 * (b) Engine overhead: client CPU per item of the engine (BatchRunner + limiter + the real
 * openai provider) against a bare SDK + p-limit loop, both against a zero-latency sandbox in
 * another process (so only the client's CPU is in `process.cpuUsage`).
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
import { RateLimiter } from '../core/limiter';
import { createProvider } from '../core/providers';
import { BatchRunner, type RunItem } from '../core/runner';
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
	/** median(engine) ÷ median(bare), for comparison. */
	ratioOfMedians: number;
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
		limiter: new RateLimiter({ rpm: 1e9, tpm: 1e12 }, systemClock),
		clock: systemClock,
		concurrency: CONCURRENCY,
		timeoutMs: 60_000,
	});
	const outcomes = await runner.run(items);
	const failed = outcomes.filter((o) => !o.ok).length;
	if (failed > 0) throw new Error(`engine: ${failed} items failed`);
	return outcomes.length;
}

async function bareRound(baseUrl: string, prompts: string[]): Promise<number> {
	const client = new OpenAI({ apiKey: API_KEY, baseURL: baseUrl, maxRetries: 0 });
	const limit = pLimit(CONCURRENCY);
	const res = await Promise.all(
		prompts.map((content) =>
			limit(() => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: MAX_TOKENS })),
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

export async function measureOverhead(items: number, rounds: number, log: (line: string) => void): Promise<OverheadResult> {
	log(`(b) engine overhead: ${rounds} alternating rounds × ${items} items each, zero latency, concurrency ${CONCURRENCY}`);
	const sandbox = await spawnSandbox(['--seed', '1']);
	try {
		const baseUrl = `${sandbox.url}/v1`;
		const work = runItems(items);
		const prompts = work.map((w) => w.request.prompt);
		// Warm-up: JIT, the SDK's lazy modules and keep-alive sockets for both.
		for (let w = 0; w < 2; w++) {
			await cpuPerItem(items, () => engineRound(baseUrl, work));
			await cpuPerItem(items, () => bareRound(baseUrl, prompts));
		}
		const engine: number[] = [];
		const bare: number[] = [];
		for (let r = 0; r < rounds; r++) {
			// Alternate which goes first so drift (thermal, sockets) hits both alike.
			const order = r % 2 === 0 ? ['engine', 'bare'] : ['bare', 'engine'];
			for (const who of order) {
				if (who === 'engine') engine.push(await cpuPerItem(items, () => engineRound(baseUrl, work)));
				else bare.push(await cpuPerItem(items, () => bareRound(baseUrl, prompts)));
			}
			log(`    round ${r + 1}: engine ${engine[r].toFixed(0)} µs/item, bare ${bare[r].toFixed(0)} µs/item, ratio ${(engine[r] / bare[r]).toFixed(3)}`);
		}
		const e = median(engine);
		const b = median(bare);
		const ratio = median(engine.map((x, i) => x / bare[i]));
		return { items, rounds, engineUsPerItem: e, bareUsPerItem: b, ratio, ratioOfMedians: e / b, engineRounds: engine, bareRounds: bare };
	} finally {
		await sandbox.close();
	}
}
