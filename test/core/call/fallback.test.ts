import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

import { handsOff, runWithFallbacks } from '../../../core/call/fallback';
import { privateFlow } from '../../../core/call/limiter/in-process';
import type { Provider } from '../../../core/call/providers/types';
import { BatchRunner, type RunItem } from '../../../core/call/runner';
import { FakeClock } from '../../helpers/fake-clock';

const apiError = (status: number) =>
	OpenAI.APIError.generate(status, { error: { message: `e${status}` } }, undefined, new Headers());

/** A model that fails the prompts `fails` says with the given status, and answers the rest. */
function model(
	name: string,
	fails: (prompt: string) => number | undefined,
): Provider & { calls: string[] } {
	const calls: string[] = [];
	return {
		name: 'openai',
		calls,
		async complete(req) {
			calls.push(req.prompt);
			const status = fails(req.prompt);
			if (status === 400)
				return {
					text: '',
					finishReason: 'content_filter',
					usage: { inputTokens: 1, outputTokens: 0 },
					model: name,
				};
			if (status) throw apiError(status);
			return {
				text: `${name}:${req.prompt}`,
				finishReason: 'stop',
				usage: { inputTokens: 10, outputTokens: 2 },
				model: name,
			};
		},
	};
}

const item = (i: number, model = 'primary'): RunItem => ({
	index: i,
	recordId: `r${i}`,
	request: { model, prompt: `p${i}`, maxTokens: 10 },
	inputTokens: 10,
	promptHash: `h${i}`,
});

function runner(p: Provider, clock: FakeClock, handOff: boolean) {
	return new BatchRunner({
		provider: p,
		flow: privateFlow({ rpm: 1e9, tpm: 1e12 }, clock),
		clock,
		concurrency: 2,
		timeoutMs: 1000,
		retry: { maxAttempts: 2 },
		handOffOverloaded: handOff,
	});
}

describe('model fallback chain', () => {
	it('hands retryable failures, overload and too-long prompts down the chain; keeps the rest', async () => {
		const clock = new FakeClock();
		const primary = model('primary', (p) => ({ p0: 529, p1: 500, p2: 400 })[p]);
		const second = model('second', (p) => (p === 'p1' ? 503 : undefined));
		const third = model('third', () => undefined);
		const stages = [second, third].map((m, k) => ({
			runner: runner(m, clock, k === 0),
			toItem: (i: number) => item(i, ['second', 'third'][k]),
		}));
		const done = runWithFallbacks(
			(r, list) => r.run(list),
			runner(primary, clock, true),
			[0, 1, 2, 3].map((i) => item(i)),
			stages,
			[
				{
					index: 4,
					error: { code: 'invalid_input', message: 'too long', retryable: false, attempts: 0 },
				},
			],
		);
		let settled = false;
		void done.finally(() => (settled = true));
		while (!settled) await clock.advance(1000);
		const { outcomes, answeredBy } = await done;
		expect(
			outcomes.map((o) =>
				o.ok
					? `${o.index}:${o.result.text}:${o.result.fallback ?? 0}:${o.result.attempts}`
					: `${o.index}:${o.error.code}`,
			),
		).toEqual([
			'0:second:p0:1:2', // 529 handed off at once (1 attempt), answered by the first fallback
			'1:third:p1:2:4', // 500 twice on the primary, 503 once on the second, then the third
			'2:content_filter', // not a provider failure: no fallback
			'3:primary:p3:0:1',
			'4:second:p4:1:1', // over the primary's window
		]);
		expect(answeredBy).toEqual([1, 2, 1]);
		expect(primary.calls.sort()).toEqual(['p0', 'p1', 'p1', 'p2', 'p3']);
	});

	it('knows which failures hand off', () => {
		const e = (code: string, retryable: boolean, status?: number) =>
			({ code, retryable, status, message: '', attempts: 1 }) as never;
		expect(handsOff(e('server_error', true, 529))).toBe(true);
		expect(handsOff(e('timeout', true))).toBe(true);
		expect(handsOff(e('circuit_open', true))).toBe(true);
		expect(handsOff(e('budget_exceeded', true))).toBe(false);
		expect(handsOff(e('canceled', true))).toBe(false);
		// the run's own stops: the next model meets the same ledger, limit store or broken prompt
		expect(handsOff(e('ledger_unavailable', true))).toBe(false);
		expect(handsOff(e('limit_store_unavailable', true))).toBe(false);
		expect(handsOff(e('stopped_failure_rate', true))).toBe(false);
		expect(handsOff(e('auth', false, 401))).toBe(false);
		expect(handsOff(e('content_filter', false))).toBe(false);
	});
});
