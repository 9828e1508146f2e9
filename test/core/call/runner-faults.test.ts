import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import type { ChatRequest, ChatResponse, Provider } from '../../../core/call/providers/types';
import {
	BatchRunner,
	ConfigurationError,
	type Outcome,
	type RunItem,
	type RunnerOptions,
} from '../../../core/call/runner';
import type { Checkpoint } from '../../../core/ledger/types';
import { seededRandom } from '../../../core/random';
import type { LlmResult } from '../../../core/types';
import { drive, FakeClock } from '../../helpers/fake-clock';

/** What a scripted call does: answer, throw, after `delayMs` of (fake) time. */
type Script = (
	req: ChatRequest,
	call: number,
	now: number,
) => { answer: ChatResponse | Error; delayMs?: number };

function ok(text: string, extra: Partial<ChatResponse> = {}): ChatResponse {
	return {
		text,
		finishReason: 'stop',
		usage: { inputTokens: 10, outputTokens: 5 },
		model: 'm',
		...extra,
	};
}

/** A provider on the fake clock: each call takes `delayMs` of fake time (default 100). */
function clockedProvider(clock: FakeClock, script: Script) {
	const calls = new Map<string, number>();
	const log: Array<{ prompt: string; at: number }> = [];
	let inFlight = 0;
	let maxInFlight = 0;
	let aborted = 0;
	const provider: Provider = {
		name: 'openai',
		async complete(req, opts) {
			const n = (calls.get(req.prompt) ?? 0) + 1;
			calls.set(req.prompt, n);
			log.push({ prompt: req.prompt, at: clock.now() });
			inFlight++;
			maxInFlight = Math.max(maxInFlight, inFlight);
			try {
				const { answer, delayMs = 100 } = script(req, n, clock.now());
				try {
					await clock.sleep(delayMs, opts.signal);
				} catch (e) {
					aborted++;
					const err = new Error('aborted');
					err.name = 'AbortError';
					throw Object.assign(err, { cause: e });
				}
				if (answer instanceof Error) throw answer;
				return answer;
			} finally {
				inFlight--;
			}
		},
	};
	return { provider, calls, log, stats: () => ({ maxInFlight, total: log.length, aborted }) };
}

function items(n: number, prompt = (i: number) => `p${i}`): RunItem[] {
	return Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `r${i}`,
		request: { model: 'm', prompt: prompt(i), maxTokens: 100 },
		inputTokens: 10,
		promptHash: `h${i}`,
	}));
}

const apiError = (status: number, body: object = {}, headers: Record<string, string> = {}) =>
	OpenAI.APIError.generate(status, { error: body }, undefined, new Headers(headers));

function runner(clock: FakeClock, opts: Partial<RunnerOptions> & { provider: Provider }) {
	return new BatchRunner({
		flow: privateFlow({ rpm: 60_000, tpm: Infinity }, clock),
		clock,
		concurrency: 4,
		timeoutMs: 10_000,
		...opts,
	});
}

const okCount = (o: Outcome[]) => o.filter((x) => x.ok).length;

describe('breaker for outages, not noise', () => {
	it('16 % mixed transient faults never open it: every item succeeds', async () => {
		const clock = new FakeClock(0, [0.3, 0.7, 0.1, 0.9, 0.5]);
		// deterministic faults: 1 in 6 first attempts fails with a mix of provider errors and 429s
		const kinds = [
			apiError(500),
			apiError(503),
			apiError(429),
			new SyntaxError('Unexpected end of JSON'),
		];
		const fp = clockedProvider(clock, (req, n) => {
			const i = Number(req.prompt.slice(1));
			return {
				answer: n === 1 && i % 6 === 0 ? kinds[(i / 6) % kinds.length] : ok(`a ${req.prompt}`),
			};
		});
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(300)));
		expect(okCount(outcomes)).toBe(300);
		expect(r.stats.circuitOpenings ?? 0).toBe(0);
		expect(outcomes.every((o) => o.ok && o.result.text === `a p${o.index}`)).toBe(true);
	});

	it('counts only provider-side failures: 100 % 429s, refusals and bad input leave it closed', async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, (req) => {
			const i = Number(req.prompt.slice(1));
			if (i % 2 === 0) return { answer: apiError(400, { message: 'bad input' }) };
			return { answer: ok('', { finishReason: 'content_filter', refusal: 'no' }) };
		});
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(100)));
		expect(r.stats.circuitOpenings ?? 0).toBe(0);
		expect(r.stats.stopped).toBeUndefined();
		expect(outcomes.filter((o) => !o.ok && o.error.code === 'invalid_request')).toHaveLength(50);
		expect(outcomes.filter((o) => !o.ok && o.error.code === 'content_filter')).toHaveLength(50);
	});

	it('an outage pauses the run, a half-open probe resumes it, no item spends attempts on it', async () => {
		const clock = new FakeClock(0, [0.5]);
		const outage = (t: number) => t >= 5_000 && t < 65_000;
		const fp = clockedProvider(clock, (req, _n, now) => ({
			answer: outage(now) ? apiError(503) : ok(`a ${req.prompt}`),
		}));
		const events: string[] = [];
		const r = runner(clock, {
			provider: fp.provider,
			flow: privateFlow({ rpm: 600, tpm: Infinity }, clock), // 10/s: 1,000 items take 100 s
			onEvent: (e) => {
				if (e.type === 'circuit') events.push(e.action);
			},
		});
		const outcomes = await drive(clock, r.run(items(1000)), 500);
		expect(okCount(outcomes)).toBe(1000);
		expect(r.stats.stopped).toBeUndefined();
		expect(events[0]).toBe('pause');
		expect(events.at(-1)).toBe('resume');
		const duringOutage = fp.log.filter((c) => outage(c.at)).length;
		// the window that opens it, plus one probe per cooldown (5 s, 10 s, 20 s, 40 s...)
		expect(duringOutage).toBeLessThanOrEqual(40);
		// attempts made while the circuit was open are refunded: only those before it opened count
		const attempts = outcomes.map((o) => (o.ok ? o.result.attempts : 0));
		expect(attempts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1000 + 40);
	});

	it('ends the run with circuit_open only after the outage time', async () => {
		const clock = new FakeClock(0, [0.5]);
		const fp = clockedProvider(clock, () => ({ answer: apiError(503) }));
		const r = runner(clock, {
			provider: fp.provider,
			circuit: { outageMs: 120_000 },
			flow: privateFlow({ rpm: 600, tpm: Infinity }, clock),
		});
		const outcomes = await drive(clock, r.run(items(200)), 1000);
		expect(r.stats.stopped?.code).toBe('circuit_open');
		expect(r.stats.stopped?.message).toMatch(/failed every probe for 2 min \(outage time 2 min\)/);
		expect(clock.now()).toBeGreaterThanOrEqual(120_000);
		expect(clock.now()).toBeLessThan(125_000);
		expect(outcomes).toHaveLength(200);
		expect(outcomes.every((o) => !o.ok && o.error.code === 'circuit_open')).toBe(true);
		// 20 to open it, then a handful of probes: 5, 10, 20, 40, 60 s apart, the last at 2 min
		expect(fp.stats().total).toBeLessThanOrEqual(40);
	});
});

describe('stops stop sending, never discard', () => {
	it('concurrency 4, a budget stop with 3 requests in flight: 4 answered, 4 delivered, 4 committed, 4 counted', async () => {
		const clock = new FakeClock();
		// r0 answers first; r4 then asks for more than the cap ($1 at most): the run stops
		// while r1–r3 are in flight, and their answers (reserved within the cap) are kept.
		const fp = clockedProvider(clock, (req) => ({
			answer: ok(`a ${req.prompt}`),
			delayMs: req.prompt === 'p0' ? 10 : 100,
		}));
		const committed: string[] = [];
		const checkpoint: Checkpoint = {
			lookup: async (entries) => entries.map(() => undefined),
			claim: async () => ({ status: 'claimed' }),
			started: () => undefined,
			succeeded: (res) => void committed.push(res.recordId),
			failed: () => undefined,
			flush: async () => undefined,
		};
		const list = items(20);
		list[4].request.maxTokens = 1000;
		const r = runner(clock, {
			provider: fp.provider,
			concurrency: 4,
			failFast: false,
			// $0.001 per output token: an answer (5 tokens) $0.005, a request's most $0.1.
			costOf: (_m, u) => u.outputTokens * 0.001,
			maxCostUsd: 0.4,
			checkpoint,
		});
		const outcomes = await drive(clock, r.run(list));
		expect(fp.stats()).toMatchObject({ total: 4, aborted: 0 });
		expect(okCount(outcomes)).toBe(4);
		expect(outcomes.slice(0, 4).map((o) => o.ok && o.result.text)).toEqual([
			'a p0',
			'a p1',
			'a p2',
			'a p3',
		]);
		expect(committed.sort()).toEqual(['r0', 'r1', 'r2', 'r3']);
		expect(r.stats.costUsd).toBeCloseTo(0.02);
		expect(r.stats.keptAfterStop).toBe(3);
		expect(r.stats.stopped?.message).toMatch(
			/^the cost cap of \$0\.4000 was reached \(\$0\.005000 spent; the next request to m may cost up to \$1\.0000/,
		);
		const notSent = outcomes.filter((o) => !o.ok);
		expect(notSent).toHaveLength(16);
		expect(notSent.every((o) => !o.ok && o.error.code === 'budget_exceeded')).toBe(true);
		expect(notSent.every((o) => !o.ok && o.error.message.startsWith('Not sent'))).toBe(true);
	});

	it('an auth stop keeps the answers already in flight', async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, (req) => ({
			answer: req.prompt === 'p1' ? apiError(401) : ok(`a ${req.prompt}`),
			delayMs: req.prompt === 'p1' ? 10 : 100,
		}));
		const r = runner(clock, { provider: fp.provider, failFast: false });
		const outcomes = await drive(clock, r.run(items(10)));
		expect(r.stats.stopped?.code).toBe('auth');
		expect(outcomes.filter((o) => o.ok).map((o) => o.index)).toEqual([0, 2, 3]);
		expect(fp.stats().aborted).toBe(0);
	});

	it("only the user's cancel aborts requests in flight", async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, () => ({ answer: ok('x'), delayMs: 1000 }));
		const ac = new AbortController();
		const r = runner(clock, { provider: fp.provider, signal: ac.signal, failFast: false });
		const p = r.run(items(8));
		await clock.advance(100);
		ac.abort();
		const outcomes = await drive(clock, p);
		expect(fp.stats().aborted).toBe(4);
		expect(outcomes.every((o) => !o.ok && o.error.code === 'canceled')).toBe(true);
	});
});

describe('429s and Retry-After', () => {
	it('an isolated 429 delays only its own request', async () => {
		const clock = new FakeClock();
		const done = new Map<number, number>();
		const fp = clockedProvider(clock, (req, n) => ({
			answer:
				req.prompt === 'p1' && n === 1
					? apiError(429, {}, { 'retry-after': '5' })
					: ok(`a ${req.prompt}`),
		}));
		const r = runner(clock, {
			provider: fp.provider,
			concurrency: 2,
			onEvent: (e) => {
				if (e.type === 'rate_limited') done.set(-1, e.cluster ? 1 : 0);
			},
		});
		const p = r.run(items(20));
		const outcomes = await drive(clock, p);
		for (const o of outcomes) if (o.ok) done.set(o.index, Date.parse(o.result.completedAt));
		expect(okCount(outcomes)).toBe(20);
		expect(done.get(-1)).toBe(0); // isolated, not a cluster
		// the 18 others finish long before p1's 5 s wait is over: nobody else waited with it
		const others = outcomes.filter((o) => o.ok && o.index !== 1);
		expect(others.every((o) => o.ok && Date.parse(o.result.completedAt) < 2_000)).toBe(true);
		expect(
			Date.parse((outcomes[1] as { result: LlmResult }).result.completedAt),
		).toBeGreaterThanOrEqual(5_000);
	});

	it('a Retry-After above the cap ends that item rate_limited, naming the wait, without stalling the rest', async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, (req) => ({
			answer: req.prompt === 'p2' ? apiError(429, {}, { 'retry-after': '3600' }) : ok('x'),
		}));
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(10)));
		expect(outcomes[2]).toMatchObject({
			ok: false,
			error: { code: 'rate_limited', attempts: 1, status: 429 },
		});
		expect((outcomes[2] as { error: { message: string } }).error.message).toMatch(
			/asked to wait 60 min \(Retry-After\), longer than Max Retry-After \(60 s\)/,
		);
		expect(okCount(outcomes)).toBe(9);
		expect(clock.now()).toBeLessThan(5_000);
	});

	it('a 5xx Retry-After above the cap is cut to the cap', async () => {
		const clock = new FakeClock(0, [0]);
		const fp = clockedProvider(clock, (_r, n) => ({
			answer: n === 1 ? apiError(503, {}, { 'retry-after': '3600' }) : ok('x'),
		}));
		const r = runner(clock, { provider: fp.provider, maxRetryAfterMs: 10_000 });
		const outcomes = await drive(clock, r.run(items(1)));
		expect(okCount(outcomes)).toBe(1);
		expect(clock.sleeps).toContain(10_000);
		expect(clock.now()).toBeLessThan(11_000);
	});

	it("a retry's backoff does not hold a concurrency slot", async () => {
		const clock = new FakeClock(0, [0.99]);
		const fp = clockedProvider(clock, (req, n) => ({
			answer: req.prompt === 'p0' && n === 1 ? apiError(503) : ok(req.prompt),
		}));
		const r = runner(clock, { provider: fp.provider, concurrency: 1, failFast: false });
		const outcomes = await drive(clock, r.run(items(3)));
		expect(okCount(outcomes)).toBe(3);
		// p0 fails, waits ~500 ms without its slot: p1 and p2 go meanwhile
		expect(fp.log.map((c) => c.prompt)).toEqual(['p0', 'p1', 'p2', 'p0']);
	});
});

describe('fail fast on a configuration that cannot work', () => {
	it('a 404 endpoint ends the run after one request, naming the Base URL', async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, () => ({ answer: apiError(404, { message: 'Not Found' }) }));
		const r = runner(clock, {
			provider: fp.provider,
			setting: { model: 'm', baseUrl: 'http://h:1' },
		});
		const err = await drive(clock, r.run(items(50))).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(ConfigurationError);
		expect(err).toMatchObject({ parameter: 'Base URL (credential)' });
		expect((err as Error).message).toContain('404');
		expect((err as Error).message).toContain('http://h:1');
		expect(fp.stats().total).toBe(1);
	});

	it('an unknown model ends the run after one request, naming the Model', async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, () => ({
			answer: apiError(404, {
				message: 'The model `gpt-9` does not exist',
				code: 'model_not_found',
			}),
		}));
		const r = runner(clock, { provider: fp.provider, setting: { model: 'gpt-9' } });
		const err = await drive(clock, r.run(items(50))).catch((e: unknown) => e);
		expect(err).toMatchObject({ name: 'ConfigurationError', parameter: 'Model' });
		expect((err as Error).message).toContain('"gpt-9"');
		expect(fp.stats().total).toBe(1);
	});

	it('a refused connection ends the run after one request', async () => {
		const clock = new FakeClock();
		const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
			code: 'ECONNREFUSED',
		});
		const fp = clockedProvider(clock, () => ({
			answer: new OpenAI.APIConnectionError({ cause: refused }),
		}));
		const r = runner(clock, { provider: fp.provider });
		const err = await drive(clock, r.run(items(50))).catch((e: unknown) => e);
		expect(err).toMatchObject({ parameter: 'Base URL (credential)' });
		expect(fp.stats().total).toBe(1);
	});

	it('the first item proves the configuration; a transient first failure lets the rest go', async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, (req, n) => ({
			answer: req.prompt === 'p0' && n === 1 ? apiError(500) : ok('x'),
		}));
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(10)));
		expect(okCount(outcomes)).toBe(10);
		expect(fp.log[0].prompt).toBe('p0');
		expect(fp.log[1].at).toBeGreaterThanOrEqual(100); // nobody else went before p0's answer
	});

	it('a TPM smaller than one request is a configuration error before any call', async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, () => ({ answer: ok('x') }));
		const r = runner(clock, {
			provider: fp.provider,
			flow: privateFlow({ rpm: 100, tpm: 50 }, clock),
		});
		const err = await r.run(items(3)).catch((e: unknown) => e);
		expect(err).toMatchObject({ parameter: 'Tokens per Minute' });
		expect((err as Error).message).toMatch(/Tokens per Minute \(50\) is smaller than one request/);
		expect(fp.stats().total).toBe(0);
	});
});

describe('ledger commit', () => {
	it("a worker waits for its own group's commit, not for flush() of everything", async () => {
		const clock = new FakeClock();
		const fp = clockedProvider(clock, () => ({ answer: ok('x') }));
		let committedCalls = 0;
		let flushCalls = 0;
		const checkpoint: Checkpoint = {
			lookup: async (entries) => entries.map(() => undefined),
			claim: async () => ({ status: 'claimed' }),
			started: () => undefined,
			succeeded: () => undefined,
			failed: () => undefined,
			flush: async () => void flushCalls++,
			committed: async () => void committedCalls++,
		};
		const r = runner(clock, { provider: fp.provider, checkpoint });
		await drive(clock, r.run(items(5)));
		expect(committedCalls).toBe(5);
		expect(flushCalls).toBe(1); // once, at the end of the run
	});
});

describe('provider noise never exhausts an item (a second pass)', () => {
	// Transient faults of a seeded mix: 500, 503, a connection reset, a body cut in transit.
	const noise = (k: number): Error => {
		switch (k % 4) {
			case 0:
				return apiError(500);
			case 1:
				return apiError(503);
			case 2:
				return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
			default:
				return new SyntaxError('Unexpected end of JSON input');
		}
	};

	it('an item meeting more transient faults in a row than Max Attempts gets a second pass once the others are done', async () => {
		const clock = new FakeClock(0, [0]);
		const fp = clockedProvider(clock, (req, n) => ({
			answer: req.prompt === 'p7' && n <= 6 ? noise(n) : ok(`a ${req.prompt}`),
		}));
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(30)));
		expect(okCount(outcomes)).toBe(30);
		// five attempts on the first pass, the sixth fails too, the seventh is answered
		expect(outcomes[7]).toMatchObject({ ok: true, result: { text: 'a p7', attempts: 7 } });
		expect(fp.calls.get('p7')).toBe(7);
		// the second pass came after every other item
		const lastOther = Math.max(...fp.log.filter((l) => l.prompt !== 'p7').map((l) => l.at));
		const p7 = fp.log.filter((l) => l.prompt === 'p7').map((l) => l.at);
		expect(p7[5]).toBeGreaterThan(lastOther);
	});

	it('a prompt the provider always fails on ends after two passes (2 x Max Attempts), the others succeed', async () => {
		const clock = new FakeClock(0, [0]);
		const fp = clockedProvider(clock, (req, n) => ({
			answer: req.prompt === 'p3' ? noise(n) : ok(`a ${req.prompt}`),
		}));
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(30)));
		expect(okCount(outcomes)).toBe(29);
		expect(outcomes[3]).toMatchObject({ ok: false, error: { code: 'connection', attempts: 10 } });
		expect(fp.calls.get('p3')).toBe(10);
		expect(r.stats.failed).toBe(1);
		expect(r.stats.done).toBe(30);
	});

	it('a second pass of a dozen always-failing prompts does not look like an outage to the breaker', async () => {
		const clock = new FakeClock(0, [0]);
		const poison = (i: number) => i % 25 === 3; // 12 of 300, spread over the run
		const fp = clockedProvider(clock, (req, n) => ({
			answer: poison(Number(req.prompt.slice(1))) ? noise(n) : ok(`a ${req.prompt}`),
		}));
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(300)));
		expect(okCount(outcomes)).toBe(288);
		const failed = outcomes.filter((o) => !o.ok);
		expect(failed.map((o) => o.index)).toEqual([...Array(12).keys()].map((k) => 25 * k + 3));
		expect(failed.every((o) => !o.ok && o.error.attempts === 10)).toBe(true);
		expect(r.stats.circuitOpenings ?? 0).toBe(0);
		// no outage waits: the backoff of two passes, not the breaker's cooldowns
		expect(clock.now()).toBeLessThan(60_000);
	});

	it('no second pass when the provider failed most of the run (not noise)', async () => {
		const clock = new FakeClock(0, [0]);
		const fp = clockedProvider(clock, (_req, n) => ({ answer: noise(n) }));
		const r = runner(clock, {
			provider: fp.provider,
			// keep the breaker out of it: this is about the attempt budget alone
			circuit: { minSamples: 40, windowSize: 40, threshold: 1 },
		});
		const outcomes = await drive(clock, r.run(items(3)));
		expect(outcomes.map((o) => !o.ok && o.error.attempts)).toEqual([5, 5, 5]);
		expect(fp.stats().total).toBe(15);
	});

	it('a model answer that is not the JSON asked for gets no second pass', async () => {
		const clock = new FakeClock(0, [0]);
		const fp = clockedProvider(clock, (req) => ({
			answer: ok(req.prompt === 'p2' ? 'not json' : '{"a":1}'),
		}));
		const r = runner(clock, { provider: fp.provider, structured: {} });
		const outcomes = await drive(clock, r.run(items(10)));
		expect(outcomes[2]).toMatchObject({
			ok: false,
			error: { code: 'malformed_output', attempts: 3 },
		});
		expect(fp.calls.get('p2')).toBe(3);
	});

	it('2,000 items under 20 % seeded transient faults (the incident mix): every item succeeds', async () => {
		const clock = new FakeClock(0, [0.5]);
		// Each call's fault is rolled from (prompt, n-th call), as the sandbox rolls them.
		const roll = (prompt: string, n: number) => {
			let h = 2166136261 ^ n;
			for (let i = 0; i < prompt.length; i++) h = Math.imul(h ^ prompt.charCodeAt(i), 16777619);
			return seededRandom(h >>> 0)();
		};
		let faults = 0;
		const fp = clockedProvider(clock, (req, n) => {
			const x = roll(req.prompt, n);
			if (x < 0.2) {
				faults++;
				return { answer: noise(Math.floor(x * 100)) };
			}
			return { answer: ok(`a ${req.prompt}`) };
		});
		const r = runner(clock, { provider: fp.provider, concurrency: 16 });
		const outcomes = await drive(clock, r.run(items(2000)), 250);
		expect(faults / fp.stats().total).toBeGreaterThan(0.18);
		expect(r.stats.circuitOpenings ?? 0).toBe(0);
		expect(outcomes.filter((o) => !o.ok).map((o) => o.index)).toEqual([]);
		expect(outcomes.every((o) => o.ok && o.result.text === `a p${o.index}`)).toBe(true);
	});
});

describe('malformed bodies', () => {
	it('a body cut in transit is a transient fault: it gets the item attempts, not the three malformed-answer tries', async () => {
		const clock = new FakeClock(0, [0]);
		const fp = clockedProvider(clock, (_r, n) => ({
			answer: n <= 4 ? new SyntaxError('Unexpected end of JSON input') : ok('x'),
		}));
		const r = runner(clock, { provider: fp.provider });
		const outcomes = await drive(clock, r.run(items(1)));
		expect(outcomes[0]).toMatchObject({ ok: true, result: { attempts: 5 } });
	});

	it('a model answer that is not the JSON asked for still fails after three tries', async () => {
		const clock = new FakeClock(0, [0]);
		const fp = clockedProvider(clock, () => ({ answer: ok('not json') }));
		const r = runner(clock, { provider: fp.provider, structured: {} });
		const outcomes = await drive(clock, r.run(items(1)));
		expect(outcomes[0]).toMatchObject({
			ok: false,
			error: { code: 'malformed_output', attempts: 3 },
		});
	});
});
