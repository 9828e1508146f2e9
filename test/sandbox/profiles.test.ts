import { afterEach, describe, expect, it } from 'vitest';

import { parseCliArgs } from '../../sandbox/cli';
import {
	INCIDENT_FAULTS,
	PROFILE_NAMES,
	profileOptions,
	startSandbox,
	type Sandbox,
} from '../../sandbox/server';

let sb: Sandbox | undefined;
afterEach(async () => {
	await sb?.close();
	sb = undefined;
});

async function call(
	url: string,
	prompt: string,
	o: { anthropic?: boolean; model?: string } = {},
): Promise<{ status: number; headers: Headers; body: string }> {
	const res = await fetch(`${url}${o.anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', authorization: 'Bearer k', 'x-api-key': 'k' },
		body: JSON.stringify({
			model: o.model ?? (o.anthropic ? 'claude-haiku-4-5' : 'gpt-4o-mini'),
			max_tokens: 16,
			messages: [{ role: 'user', content: prompt }],
		}),
	}).catch(() => undefined);
	if (!res) return { status: 0, headers: new Headers(), body: '' };
	return { status: res.status, headers: res.headers, body: await res.text() };
}

describe('sandbox fault profiles', () => {
	it('broken-prompt: after K calls with a schema every structured answer breaks it, re-asks too', async () => {
		sb = await startSandbox({ profile: 'broken-prompt', breakSchemaAfter: 2 });
		const schema = {
			type: 'object',
			properties: { label: { type: 'string' }, note: { type: 'string' } },
			required: ['label', 'note'],
		};
		const ask = async (messages: Array<{ role: string; content: string }>, withSchema = true) => {
			const res = await fetch(`${sb!.url}/v1/chat/completions`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
				body: JSON.stringify({
					model: 'gpt-4o-mini',
					messages,
					...(withSchema
						? { response_format: { type: 'json_schema', json_schema: { name: 'c', schema } } }
						: {}),
				}),
			});
			const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
			return body.choices[0].message.content;
		};
		const user = (content: string) => [{ role: 'user', content }];
		const keys = async (m: Array<{ role: string; content: string }>) =>
			Object.keys(JSON.parse(await ask(m)) as object).sort();
		expect(await keys(user('one'))).toEqual(['label', 'note']);
		// a call without a schema is not counted and answers as always
		expect(await ask(user('plain'), false)).toMatch(/^sandbox:/);
		expect(await keys(user('two'))).toEqual(['label', 'note']);
		expect(await keys(user('three'))).toEqual(['note']);
		const reask = [
			...user('three'),
			{ role: 'assistant', content: '{"note":"x"}' },
			{ role: 'user', content: 'Invalid answer: /label is required' },
		];
		expect(await keys(reask)).toEqual(['note']);
		expect(sb.stats().faults.schemaViolation).toBe(2);
		// the profile alone breaks after 1,000
		expect(profileOptions('broken-prompt')).toEqual({ breakSchemaAfter: 1000 });
		await expect(startSandbox({ breakSchemaAfter: -1 })).rejects.toThrow(
			'Expected `breakSchemaAfter` to be an integer >= 0, got -1',
		);
	});

	it('incident: at least 15 % mixed transient faults, each kind present', async () => {
		sb = await startSandbox({ profile: 'incident', seed: 3 });
		const n = 600;
		for (let i = 0; i < n; i += 50)
			await Promise.all(Array.from({ length: 50 }, (_, j) => call(sb!.url, `ticket ${i + j}`)));
		const s = sb.stats();
		const faulted = Object.values(s.faults).reduce((a, b) => a + b, 0);
		expect(s.accepted).toBe(n);
		expect(faulted / n).toBeGreaterThanOrEqual(0.12);
		expect(faulted / n).toBeLessThanOrEqual(0.2);
		for (const k of Object.keys(INCIDENT_FAULTS) as Array<keyof typeof INCIDENT_FAULTS>)
			expect(s.faults[k], k).toBeGreaterThan(0);
		// the profile's own share adds up to more than 15 %
		expect(Object.values(INCIDENT_FAULTS).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(0.15);
		// every request is accounted for: statuses plus resets
		const answered = Object.values(s.byStatus).reduce((a, b) => a + b, 0) + s.faults.reset;
		expect(answered).toBe(n);
		expect(s.byStatus['429']).toBe(s.faults.status429);
		expect(s.rateLimited).toBe(0);
	});

	it('incident: a spurious 429 still reports budget left in the rate-limit headers', async () => {
		sb = await startSandbox({ profile: 'incident', rpm: 6000 });
		const r = await call(sb.url, '[[sandbox:status429]] x');
		expect(r.status).toBe(429);
		expect(Number(r.headers.get('x-ratelimit-remaining-requests'))).toBeGreaterThan(0);
		expect(r.headers.get('retry-after')).toBe('1');
	});

	it('outage: every call answers 503 inside the window and none outside it', async () => {
		let now = 1_000_000;
		sb = await startSandbox({
			profile: 'outage',
			outage: { afterMs: 30_000, durationMs: 60_000 },
			now: () => now,
		});
		expect((await call(sb.url, 'a')).status).toBe(200); // origin of the window
		now += 29_999;
		expect((await call(sb.url, 'b')).status).toBe(200);
		now += 1;
		const inside = await call(sb.url, 'c');
		expect(inside.status).toBe(503);
		expect(JSON.parse(inside.body).error.type).toBe('server_error');
		now += 59_999;
		expect((await call(sb.url, 'd', { anthropic: true })).status).toBe(503);
		now += 1;
		expect((await call(sb.url, 'e')).status).toBe(200);
		const s = sb.stats();
		expect(s.outageRequests).toBe(2);
		expect(s.byStatus).toEqual({ '200': 3, '503': 2 });
		expect(s.accepted).toBe(3); // outage answers are not charged to the limits
	});

	it('outage profile defaults to 60 s starting 30 s after the first call', () => {
		expect(profileOptions('outage').outage).toEqual({ afterMs: 30_000, durationMs: 60_000 });
	});

	it('low-limit: the server enforces half of the limit it is given, and says so in its headers', async () => {
		const now = 0;
		sb = await startSandbox({ profile: 'low-limit', rpm: 120, now: () => now }); // 1 request/s, burst 1
		const first = await call(sb.url, 'a');
		expect(first.status).toBe(200);
		expect(first.headers.get('x-ratelimit-limit-requests')).toBe('60');
		const second = await call(sb.url, 'b');
		expect(second.status).toBe(429);
		expect(second.headers.get('retry-after-ms')).toBe('1000');
		expect(profileOptions('low-limit', { rpm: 2400, tpm: 400_000 })).toMatchObject({
			rpm: 1200,
			tpm: 200_000,
		});
	});

	it('rate-limit headers come in both dialects, and not at all with no-rate-headers', async () => {
		sb = await startSandbox({ rpm: 600, tpm: 60_000 });
		const o = await call(sb.url, 'a');
		expect(o.headers.get('x-ratelimit-limit-requests')).toBe('600');
		expect(o.headers.get('x-ratelimit-limit-tokens')).toBe('60000');
		expect(o.headers.get('x-ratelimit-remaining-requests')).toMatch(/^\d+$/);
		expect(o.headers.get('x-ratelimit-reset-requests')).toMatch(/^[\d.]+m?s$|^\d+m\d+s$/);
		const a = await call(sb.url, 'b', { anthropic: true });
		expect(a.headers.get('anthropic-ratelimit-requests-limit')).toBe('600');
		expect(a.headers.get('anthropic-ratelimit-requests-remaining')).toMatch(/^\d+$/);
		expect(Date.parse(a.headers.get('anthropic-ratelimit-requests-reset') ?? '')).not.toBeNaN();
		await sb.close();
		sb = await startSandbox({ profile: 'no-rate-headers', rpm: 600 });
		const none = await call(sb.url, 'c');
		expect(none.status).toBe(200);
		expect([...none.headers.keys()].filter((k) => k.includes('ratelimit'))).toEqual([]);
	});

	it('retry-after-hour: its 429s ask for an hour', async () => {
		sb = await startSandbox({ profile: 'retry-after-hour', seed: 1 });
		const answers = await Promise.all(
			Array.from({ length: 200 }, (_, i) => call(sb!.url, `p${i}`)),
		);
		const limited = answers.filter((a) => a.status === 429);
		expect(limited.length).toBeGreaterThan(0);
		expect(limited.length).toBe(sb.stats().faults.status429);
		for (const a of limited) {
			expect(a.headers.get('retry-after')).toBe('3600');
			expect(a.headers.get('retry-after-ms')).toBe('3600000');
		}
	});

	it('strictModels: an unknown model answers 404 model_not_found', async () => {
		sb = await startSandbox({ strictModels: true });
		const r = await call(sb.url, 'a', { model: 'gpt-9-turbo' });
		expect(r.status).toBe(404);
		expect(JSON.parse(r.body).error.code).toBe('model_not_found');
		expect((await call(sb.url, 'a')).status).toBe(200);
	});

	it('rejects an unknown profile', async () => {
		await expect(startSandbox({ profile: 'storm' as never })).rejects.toThrow(
			'Unknown sandbox profile storm',
		);
	});

	it('the CLI selects a profile and an outage window', () => {
		expect(parseCliArgs(['--profile', 'incident', '--outage', '10-60', '--strict-models'])).toEqual(
			{
				port: 8787,
				profile: 'incident',
				outage: { afterMs: 10_000, durationMs: 60_000 },
				strictModels: true,
			},
		);
		expect(parseCliArgs(['--no-rate-headers']).rateHeaders).toBe(false);
		expect(() => parseCliArgs(['--profile', 'storm'])).toThrow(/Unknown --profile storm/);
		for (const p of PROFILE_NAMES) expect(parseCliArgs(['--profile', p]).profile).toBe(p);
	});
});
