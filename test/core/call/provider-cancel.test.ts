/**
 * The execution's cancel signal, through the real SDK providers and the default transport:
 * it aborts a request in flight (the item ends `canceled`), and it never reaches the SDKs,
 * whose handling of a caller signal (`AbortSignal.any`, a FinalizationRegistry entry per
 * request) keeps each request's state alive until a full GC.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { classifyError } from '../../../core/call/classify';
import { createProvider, type Provider } from '../../../core/call/providers';
import type { ProviderName } from '../../../core/types';
import { startSandbox, type Sandbox } from '../../../sandbox/server';

describe('the cancel signal through the SDK providers', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ hangMs: 10_000 });
	});
	afterAll(async () => sandbox.close());
	afterEach(() => vi.restoreAllMocks());

	const providers: Array<[ProviderName, string, () => Provider]> = [
		[
			'openai',
			'gpt-4o-mini',
			() => createProvider('openai', { apiKey: 'k', baseUrl: `${sandbox.url}/v1` }),
		],
		[
			'anthropic',
			'claude-3-5-haiku-latest',
			() => createProvider('anthropic', { apiKey: 'k', baseUrl: sandbox.url }),
		],
	];

	it.each(providers)('%s: a cancel aborts the request in flight', async (name, model, make) => {
		const ac = new AbortController();
		const started = Date.now();
		const call = make().complete(
			{ model, prompt: 'x [[sandbox:hang]]', maxTokens: 5 },
			{ signal: ac.signal, timeoutMs: 10_000 },
		);
		setTimeout(() => ac.abort(), 50);
		const error = await call.catch((e: unknown) => e);
		expect(classifyError(error, name, Date.now()).code).toBe('canceled');
		expect(Date.now() - started).toBeLessThan(5000);
	});

	it.each(providers)(
		'%s: with the signal set, the timeout still ends the request as a timeout',
		async (name, model, make) => {
			const started = Date.now();
			const error = await make()
				.complete(
					{ model, prompt: 'x [[sandbox:hang]]', maxTokens: 5 },
					{ signal: new AbortController().signal, timeoutMs: 200 },
				)
				.catch((e: unknown) => e);
			expect(classifyError(error, name, Date.now()).code).toBe('timeout');
			expect(Date.now() - started).toBeLessThan(5000);
		},
	);

	it.each(providers)(
		'%s: a request canceled before it is sent is not sent',
		async (name, model, make) => {
			const ac = new AbortController();
			ac.abort();
			const error = await make()
				.complete(
					{ model, prompt: 'hello', maxTokens: 5 },
					{ signal: ac.signal, timeoutMs: 10_000 },
				)
				.catch((e: unknown) => e);
			expect(classifyError(error, name, Date.now()).code).toBe('canceled');
		},
	);

	it.each(providers)(
		'%s: answers come back with the signal set, and the SDK never joins it to the request',
		async (_name, model, make) => {
			const any = vi.spyOn(AbortSignal, 'any');
			const register = vi.spyOn(FinalizationRegistry.prototype, 'register');
			const ac = new AbortController();
			const provider = make();
			for (let i = 0; i < 3; i++) {
				const res = await provider.complete(
					{ model, prompt: `hello ${i}`, maxTokens: 20 },
					{ signal: ac.signal, timeoutMs: 10_000 },
				);
				expect(res.text).not.toBe('');
			}
			expect(any).not.toHaveBeenCalled();
			expect(register).not.toHaveBeenCalled();
		},
	);
});
