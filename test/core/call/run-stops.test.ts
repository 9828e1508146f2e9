/**
 * A call's stops through its one entry (`runCall`), every model of the chain: each stop says
 * what happened with its own code, keeps the answers already paid, and is not handed to a
 * fallback model.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import {
	runCall,
	type CallConfig,
	type CallLimit,
	type CallOptions,
} from '../../../core/call/run-call';
import { closeAllStores, openStore } from '../../../core/ledger';
import type { LedgerStore } from '../../../core/ledger/types';
import type { ItemError } from '../../../core/types';
import { TEST_CALL_OPTIONS, ticketsInput } from '../../helpers/call-options';
import { drive, FakeClock } from '../../helpers/fake-clock';

afterAll(() => closeAllStores());

const PRIMARY = 'gpt-4o-mini';
const FALLBACK = 'gpt-4.1-mini';
const SCHEMA = {
	type: 'object',
	properties: { label: { type: 'string' } },
	required: ['label'],
	additionalProperties: false,
};

const OPTIONS = TEST_CALL_OPTIONS;

/** An OpenAI-compatible endpoint: `answer(model, prompt, n)` says what the n-th request gets. */
function endpoint(answer: (model: string, prompt: string, n: number) => string | number) {
	const requests: Array<{ model: string; prompt: string }> = [];
	const fetchImpl = (async (_url: string, init: RequestInit) => {
		const body = JSON.parse(String(init.body)) as {
			model: string;
			messages: Array<{ content: string }>;
		};
		const prompt = body.messages[body.messages.length - 1].content;
		requests.push({ model: body.model, prompt });
		const a = answer(body.model, prompt, requests.length);
		if (typeof a === 'number')
			return new Response(JSON.stringify({ error: { message: 'overloaded', type: 'server' } }), {
				status: a,
				headers: { 'content-type': 'application/json' },
			});
		return new Response(
			JSON.stringify({
				id: `c${requests.length}`,
				object: 'chat.completion',
				created: 0,
				model: body.model,
				choices: [{ index: 0, message: { role: 'assistant', content: a }, finish_reason: 'stop' }],
				usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 },
			}),
			{ status: 200, headers: { 'content-type': 'application/json' } },
		);
	}) as unknown as typeof fetch;
	return { fetchImpl, requests };
}

/** A model's limit whose own stop (Redis gone, "Stop the Run") the test pulls. */
function limit(clock: FakeClock) {
	const handle: { stop?: (message: string) => void } = {};
	const l: CallLimit = {
		limiter: privateFlow({ rpm: 1_000_000, tpm: Infinity }, clock),
		onStop: (stop) => (handle.stop = stop),
		finish: () => undefined,
		release: () => undefined,
	};
	return { limit: l, handle };
}

function setup(n: number, options: Partial<CallOptions> = {}, store?: LedgerStore) {
	const credentials = { apiKey: 'sk-test-run-stops-key', baseUrl: 'http://llm.test/v1' };
	const config: CallConfig = {
		primary: { provider: 'openai', credentials, model: PRIMARY },
		fallback: { provider: 'openai', credentials, models: [FALLBACK] },
		schema: SCHEMA,
		concurrency: 1,
		tokensPerMinute: 1_000_000_000,
		options: { ...OPTIONS, ...options },
		prices: {},
		ledger: store && { store, job: 'stops' },
		label: 'LLM Batch Call',
	};
	const input = ticketsInput(n, { model: PRIMARY, schema: SCHEMA });
	return { config, input };
}

const index = (prompt: string) => Number(prompt.split(' ')[1]);
const errors = (outcomes: Array<{ ok: boolean; error?: ItemError }>) =>
	outcomes.flatMap((o, i) => (o.ok ? [] : [{ i, ...o.error! }]));

describe('a stop says what happened', () => {
	it('the shared limit store stopping the run: limit_store_unavailable, retryable, the answer in flight kept, no fallback', async () => {
		const clock = new FakeClock();
		const primary = limit(clock);
		const fallback = limit(clock);
		const api = endpoint((_model, _prompt, n) => {
			if (n === 3) primary.handle.stop!('Redis (shared limits) is unreachable: connection refused');
			return '{"label":"ok"}';
		});
		const { config, input } = setup(6);
		const log: string[] = [];
		const run = await drive(
			clock,
			runCall(config, input, {
				clock,
				fetch: api.fetchImpl,
				limits: [primary.limit, fallback.limit],
				log: { info: () => undefined, warn: (l) => log.push(l) },
			}),
		);
		expect(run.outcomes.map((o) => o.ok)).toEqual([true, true, true, false, false, false]);
		const message =
			'Not sent: the run stopped (Redis (shared limits) is unreachable: connection refused)';
		expect(errors(run.outcomes)).toEqual(
			[3, 4, 5].map((i) => ({
				i,
				code: 'limit_store_unavailable',
				message,
				retryable: true,
				attempts: 0,
			})),
		);
		expect(api.requests.map((r) => r.model)).toEqual([PRIMARY, PRIMARY, PRIMARY]);
		expect(run.stats.failuresByCode).toEqual({ limit_store_unavailable: 3 });
		expect(run.stats.stopped?.code).toBe('limit_store_unavailable');
		expect(log).toContain(
			'LLM Batch Call: run stopped (limit_store_unavailable): Redis (shared limits) is unreachable: connection refused',
		);
	});

	it('the ledger failing to store results: the run stops with ledger_unavailable and fails loudly (the answer is paid)', async () => {
		const clock = new FakeClock();
		const dir = mkdtempSync(join(tmpdir(), 'run-stops-'));
		const real = openStore({ kind: 'sqlite', path: join(dir, 'ledger.sqlite') });
		const broken = new Proxy(real, {
			get(target, key, receiver) {
				if (key === 'writeBatch') return () => Promise.reject(new Error('disk I/O error'));
				const v = Reflect.get(target, key, receiver) as unknown;
				return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
			},
		});
		const api = endpoint(() => '{"label":"ok"}');
		const { config, input } = setup(4, {}, broken);
		const log: string[] = [];
		const primary = limit(clock);
		const err = await drive(
			clock,
			runCall(config, input, {
				clock,
				fetch: api.fetchImpl,
				limits: [primary.limit, limit(clock).limit],
				log: { info: () => undefined, warn: (l) => log.push(l) },
			}),
		).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(Error);
		expect((err as Error).message).toMatch(/could not write results: Error: disk I\/O error/);
		expect(api.requests).toHaveLength(1);
		// every model of the chain stops: they share the ledger
		const said = expect.stringMatching(
			/^LLM Batch Call: run stopped \(ledger_unavailable\): the ledger could not store results: .*disk I\/O error/,
		);
		expect(log).toEqual([said, said]);
	});
});

describe('Stop When Failures Exceed', () => {
	it('a prompt that breaks mid-run stops the whole chain: paid answers kept, the rest stopped_failure_rate, nothing handed to the fallback', async () => {
		const clock = new FakeClock();
		// ticket 3 is overloaded on the primary (handed to the fallback model, which runs after);
		// from ticket 10 on every answer leaves out the required label
		const api = endpoint((model, prompt) => {
			const i = index(prompt);
			if (model === PRIMARY && i === 3) return 529;
			return i >= 10 ? '{"note":"no label"}' : '{"label":"ok"}';
		});
		const { config, input } = setup(30, { stopFailurePercent: 50, stopFailureWindow: 10 });
		const log: string[] = [];
		const run = await drive(
			clock,
			runCall(config, input, {
				clock,
				fetch: api.fetchImpl,
				limits: [limit(clock).limit, limit(clock).limit],
				log: { info: () => undefined, warn: (l) => log.push(l) },
			}),
		);
		// answered: 0..15 (ticket 3 a 529); at 15 the last 10 (6..15) hold 6 schema failures
		expect(api.requests.map((r) => index(r.prompt))).toEqual([...Array(16).keys()]);
		expect(api.requests.every((r) => r.model === PRIMARY)).toBe(true);
		const ok = run.outcomes.flatMap((o, i) => (o.ok ? [i] : []));
		expect(ok).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9]);
		const failed = errors(run.outcomes);
		expect(failed.filter((e) => e.code === 'schema_violation').map((e) => e.i)).toEqual([
			10, 11, 12, 13, 14, 15,
		]);
		const stopped = failed.filter((e) => e.code === 'stopped_failure_rate');
		expect(stopped.map((e) => e.i)).toEqual([3, ...Array.from({ length: 14 }, (_, k) => 16 + k)]);
		expect(stopped.every((e) => e.retryable)).toBe(true);
		const trip =
			'6 of the last 10 answered items failed (60 %, over Stop When Failures Exceed 50 %), most with schema_violation (6), e.g. "';
		expect(stopped[1].message).toContain(`Not sent: the run stopped (${trip}`);
		expect(run.stats.stopped?.message).toMatch(
			/^6 of the last 10 answered items failed .* e\.g\. "The answer does not match the JSON Schema.*"; fix the prompt, schema or model, then rerun the failed items$/,
		);
		expect(run.stats.failuresByCode).toEqual({ schema_violation: 6, stopped_failure_rate: 15 });
		expect(run.stats.succeeded + run.stats.failed).toBe(30);
		expect(log.filter((l) => l.includes('run stopped (stopped_failure_rate)'))).toHaveLength(2);
	});

	it('off (0 %), the same run answers every item', async () => {
		const clock = new FakeClock();
		const api = endpoint((_m, prompt) =>
			index(prompt) >= 10 ? '{"note":"no label"}' : '{"label":"ok"}',
		);
		const { config, input } = setup(30, { stopFailurePercent: 0, stopFailureWindow: 10 });
		const run = await drive(
			clock,
			runCall(config, input, {
				clock,
				fetch: api.fetchImpl,
				limits: [limit(clock).limit, limit(clock).limit],
				log: { info: () => undefined, warn: () => undefined },
			}),
		);
		expect(api.requests).toHaveLength(30);
		expect(run.stats.failuresByCode).toEqual({ schema_violation: 20 });
	});
});
