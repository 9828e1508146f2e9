import { describe, expect, it } from 'vitest';

import {
	readError,
	ROUTE_DEFAULTS,
	routeItem,
	suggestedWait,
	type RoutePolicy,
} from '../../../core/route';

const NOW = Date.parse('2025-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(NOW + ms).toISOString();
const policy = (p: Partial<RoutePolicy> = {}): RoutePolicy => ({ ...ROUTE_DEFAULTS, ...p });
const err = (code: string, extra: Record<string, unknown> = {}) => ({
	code,
	message: `${code} happened`,
	retryable: true,
	attempts: 5,
	...extra,
});

describe('routeItem', () => {
	it('sends a retryable error to Retry, moving the error into retry.history', () => {
		const routed = routeItem({ id: 1, error: err('server_error') }, policy(), NOW);
		expect(routed).toEqual({
			route: 'retry',
			json: {
				id: 1,
				retry: {
					attempts: 1,
					waitMs: 1000,
					retryAt: at(1000),
					history: [{ code: 'server_error', message: 'server_error happened', at: at(0) }],
				},
			},
		});
	});

	it('doubles the suggested wait per trip and keeps the history in order', () => {
		const first = routeItem({ error: err('timeout') }, policy(), NOW).json;
		const second = routeItem({ ...first, error: err('rate_limited') }, policy(), NOW + 5);
		expect(second.route).toBe('retry');
		expect(second.json.retry).toEqual({
			attempts: 2,
			waitMs: 2000,
			retryAt: new Date(NOW + 5 + 2000).toISOString(),
			history: [
				{ code: 'timeout', message: 'timeout happened', at: at(0) },
				{ code: 'rate_limited', message: 'rate_limited happened', at: at(5) },
			],
		});
	});

	it('sends the failure after max retries to Dead Letter with the full history', () => {
		let json: Record<string, unknown> = { id: 7, error: err('server_error') };
		const routes: string[] = [];
		for (let trip = 0; trip < 10; trip++) {
			const routed = routeItem(json, policy({ maxRetries: 2 }), NOW + trip);
			routes.push(routed.route);
			if (routed.route !== 'retry') {
				json = routed.json;
				break;
			}
			json = { ...routed.json, error: err('server_error') };
		}
		expect(routes).toEqual(['retry', 'retry', 'deadLetter']);
		expect(json).toEqual({
			id: 7,
			error: {
				...err('server_error'),
				history: [0, 1, 2].map((n) => ({
					code: 'server_error',
					message: 'server_error happened',
					at: at(n),
				})),
			},
			retry: { attempts: 2, exhausted: true },
		});
	});

	it('sends content-policy refusals to Filtered without retrying', () => {
		const routed = routeItem({ error: err('content_filter', { retryable: false }) }, policy(), NOW);
		expect(routed).toEqual({
			route: 'filtered',
			json: {
				error: {
					...err('content_filter', { retryable: false }),
					history: [{ code: 'content_filter', message: 'content_filter happened', at: at(0) }],
				},
			},
		});
	});

	it('sends non-retryable codes straight to Dead Letter', () => {
		for (const code of [
			'invalid_request',
			'auth',
			'quota_exhausted',
			'schema_violation',
			'budget_exceeded',
		]) {
			const routed = routeItem({ error: err(code) }, policy(), NOW);
			expect(routed.route, code).toBe('deadLetter');
			expect(routed.json.retry, code).toBeUndefined();
		}
	});

	it('honours custom retry and filtered codes', () => {
		expect(
			routeItem(
				{ error: err('schema_violation') },
				policy({ retryCodes: new Set(['schema_violation']) }),
				NOW,
			).route,
		).toBe('retry');
		expect(
			routeItem(
				{ error: err('server_error') },
				policy({ retryCodes: new Set(), filteredCodes: new Set(['server_error']) }),
				NOW,
			).route,
		).toBe('filtered');
	});

	it('never retries with maxRetries 0', () => {
		expect(routeItem({ error: err('timeout') }, policy({ maxRetries: 0 }), NOW).route).toBe(
			'deadLetter',
		);
	});

	it('dead-letters items without an error, and n8n error-output strings, as invalid_request', () => {
		const none = routeItem({ id: 1 }, policy(), NOW);
		expect(none.route).toBe('deadLetter');
		expect((none.json.error as { code: string }).code).toBe('invalid_request');
		const text = routeItem(
			{ error: 'The service was not able to process your request' },
			policy(),
			NOW,
		);
		expect(text.route).toBe('deadLetter');
		expect(text.json.error).toMatchObject({
			code: 'invalid_request',
			message: 'The service was not able to process your request',
			retryable: false,
		});
	});

	it('uses custom field paths', () => {
		const routed = routeItem(
			{ out: { err: err('timeout') } },
			policy({ errorField: 'out.err', retryField: 'meta.trips' }),
			NOW,
		);
		expect(routed.route).toBe('retry');
		expect(routed.json).toEqual({
			out: {},
			meta: {
				trips: {
					attempts: 1,
					waitMs: 1000,
					retryAt: at(1000),
					history: [{ code: 'timeout', message: 'timeout happened', at: at(0) }],
				},
			},
		});
	});

	it('does not mutate the input item', () => {
		const input = { error: err('timeout'), retry: { attempts: 1, history: [] } };
		const copy = structuredClone(input);
		routeItem(input, policy(), NOW);
		expect(input).toEqual(copy);
	});
});

describe('helpers', () => {
	it('suggestedWait is base * 2^(n-1), capped', () => {
		expect(
			[1, 2, 3, 4, 5, 10].map((n) => suggestedWait(n, { baseDelayMs: 500, maxDelayMs: 5000 })),
		).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
	});

	it('readError maps unknown codes to a non-retryable invalid_request', () => {
		expect(readError({ code: 'ETIMEDOUT', message: 'boom' })).toEqual({
			code: 'invalid_request',
			message: 'ETIMEDOUT: boom',
			retryable: false,
			attempts: 1,
		});
		expect(readError(undefined)).toBeUndefined();
	});
});
