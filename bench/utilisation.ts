/**
 * (a) Utilisation: how much of a 1,200 RPM limit each contender turns into successful
 * requests, and how many 429s it provokes on the way.
 *
 * Achieved rate = the sandbox's successful (200, paid) answers / (last answer - first
 * request) in minutes; both instants are taken by the sandbox itself (first call in, last
 * answer out), the same for both contenders whatever HTTP client they use. Utilisation = achieved rate / limit. The 429 share is the
 * sandbox's rate-limit answers / all requests it received. Each contender gets a fresh
 * sandbox process, so both start with a full bucket.
 */
import OpenAI from 'openai';
import pLimit from 'p-limit';

import { runWorkflow } from '../scripts/lib/harness';
import {
	API_KEY,
	credentials,
	llmWorkflow,
	MAX_TOKENS,
	MODEL,
	nodeTypes,
	spawnSandbox,
	ticketText,
	tickets,
	type RemoteStats,
} from './common';

export const UTILISATION_RPM = 1_200;
export const UTILISATION_CONCURRENCY = 16;
const LATENCY = '50-300';

export interface UtilisationResult {
	contender: string;
	items: number;
	succeeded: number;
	failed: number;
	requests: number;
	rateLimited: number;
	/** 429s / requests. */
	share429: number;
	durationMs: number;
	/** Successful requests per minute over the run. */
	achievedRpm: number;
	/** achievedRpm / limit. */
	utilisation: number;
	/** Most requests the sandbox accepted in any one-minute window. */
	maxAcceptedPerMinute: number;
	/** For the baseline: when the first item failed (a literal `Promise.all` would reject there). */
	firstFailureAfterItems?: number;
}

function summarise(
	contender: string,
	items: number,
	succeeded: number,
	s: RemoteStats,
): UtilisationResult {
	// Measured at the sandbox, the same way for both contenders whatever HTTP client they use.
	const durationMs = s.lastAnswerAt - s.firstArrivalAt;
	const achievedRpm = (s.paidSuccesses / durationMs) * 60_000;
	return {
		contender,
		items,
		succeeded,
		failed: items - succeeded,
		requests: s.requests,
		rateLimited: s.rateLimited,
		share429: s.requests === 0 ? 0 : s.rateLimited / s.requests,
		durationMs,
		achievedRpm,
		utilisation: achievedRpm / UTILISATION_RPM,
		maxAcceptedPerMinute: s.maxRequestsPerWindow,
	};
}

/** The node, run as a real workflow in-process, with RPM set to the provider's limit. */
async function runNode(items: number): Promise<UtilisationResult> {
	const sandbox = await spawnSandbox([
		'--rpm',
		String(UTILISATION_RPM),
		'--latency',
		LATENCY,
		'--seed',
		'1',
	]);
	try {
		const wf = llmWorkflow({
			concurrency: UTILISATION_CONCURRENCY,
			requestsPerMinute: UTILISATION_RPM,
			tokensPerMinute: 100_000_000,
			options: { maxTokens: MAX_TOKENS, progressIntervalSeconds: 10 },
		});
		const res = await runWorkflow(wf, {
			nodeTypes: nodeTypes(),
			credentials: credentials(sandbox.url),
			input: tickets(items),
		});
		if (res.run.status !== 'success')
			throw new Error(`workflow ended with status ${res.run.status}`);
		const ok = res.items('LLM Batch Call', 0).length;
		const failed = res.items('LLM Batch Call', 1).length;
		if (ok + failed !== items)
			throw new Error(`node returned ${ok} + ${failed} items for ${items}`);
		return summarise('LLM Batch Call (node)', items, ok, await sandbox.stats());
	} finally {
		await sandbox.close();
	}
}

/**
 * The naive way: the openai SDK with its defaults (2 retries honouring Retry-After) and
 * `Promise.all` over p-limit. Each task catches its error so the run completes and can be
 * counted; a literal `Promise.all` would reject at the first failure (reported).
 */
async function runBaseline(items: number): Promise<UtilisationResult> {
	const sandbox = await spawnSandbox([
		'--rpm',
		String(UTILISATION_RPM),
		'--latency',
		LATENCY,
		'--seed',
		'1',
	]);
	try {
		const client = new OpenAI({ apiKey: API_KEY, baseURL: `${sandbox.url}/v1` });
		const limit = pLimit(UTILISATION_CONCURRENCY);
		let done = 0;
		let firstFailure: number | undefined;
		const results = await Promise.all(
			Array.from({ length: items }, (_, i) =>
				limit(async () => {
					try {
						await client.chat.completions.create({
							model: MODEL,
							messages: [{ role: 'user', content: ticketText(i) }],
							max_tokens: MAX_TOKENS,
						});
						return true;
					} catch {
						firstFailure ??= done;
						return false;
					} finally {
						done++;
					}
				}),
			),
		);
		const ok = results.filter(Boolean).length;
		const r = summarise('openai SDK defaults + p-limit', items, ok, await sandbox.stats());
		r.firstFailureAfterItems = firstFailure;
		return r;
	} finally {
		await sandbox.close();
	}
}

export async function measureUtilisation(
	items: number,
	log: (line: string) => void,
): Promise<UtilisationResult[]> {
	log(
		`(a) utilisation: ${items} items, sandbox ${UTILISATION_RPM} RPM, latency ${LATENCY} ms, concurrency ${UTILISATION_CONCURRENCY}`,
	);
	const node = await runNode(items);
	log(`    node: ${describe(node)}`);
	const baseline = await runBaseline(items);
	log(`    baseline: ${describe(baseline)}`);
	return [node, baseline];
}

function describe(r: UtilisationResult): string {
	return (
		`${r.succeeded}/${r.items} ok in ${(r.durationMs / 1000).toFixed(1)} s, ${r.achievedRpm.toFixed(0)} ok/min ` +
		`(${(r.utilisation * 100).toFixed(1)} % of ${UTILISATION_RPM}), ${r.rateLimited}/${r.requests} requests answered 429, ` +
		`max ${r.maxAcceptedPerMinute} accepted in a minute`
	);
}
