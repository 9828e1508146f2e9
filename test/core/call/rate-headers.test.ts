import { describe, expect, it } from 'vitest';

import { parseDuration, readRateLimit } from '../../../core/call/rate-headers';

describe('rate-limit headers', () => {
	it('reads both dialects', () => {
		expect(
			readRateLimit(
				new Headers({
					'x-ratelimit-limit-requests': '1200',
					'x-ratelimit-remaining-requests': '7',
					'x-ratelimit-reset-requests': '6m0s',
					'x-ratelimit-limit-tokens': '90000',
					'x-ratelimit-remaining-tokens': '800',
					'x-ratelimit-reset-tokens': '120ms',
				}),
				0,
			),
		).toEqual({
			limitRequests: 1200,
			remainingRequests: 7,
			resetRequestsMs: 360_000,
			limitTokens: 90000,
			remainingTokens: 800,
			resetTokensMs: 120,
		});
		expect(
			readRateLimit(
				{
					'anthropic-ratelimit-requests-limit': '50',
					'anthropic-ratelimit-requests-remaining': '0',
					'anthropic-ratelimit-requests-reset': new Date(1_500).toISOString(),
				},
				1_000,
			),
		).toEqual({ limitRequests: 50, remainingRequests: 0, resetRequestsMs: 500 });
		expect(readRateLimit(new Headers({ 'content-type': 'x' }), 0)).toBeUndefined();
	});

	it("sets only the fields found, each dialect read its own way, OpenAI's first", () => {
		const read = readRateLimit(
			{
				'x-ratelimit-limit-requests': 'many',
				'anthropic-ratelimit-requests-limit': '50',
				'x-ratelimit-remaining-tokens': '9',
				'anthropic-ratelimit-tokens-remaining': '1',
				// A date is no Go duration, and a duration no RFC 3339 time: neither reads.
				'x-ratelimit-reset-requests': new Date(1_500).toISOString(),
				'anthropic-ratelimit-tokens-reset': '2s',
			},
			1_000,
		);
		expect(read).toStrictEqual({ limitRequests: 50, remainingTokens: 9 });
		expect(Object.keys(read!)).toEqual(['limitRequests', 'remainingTokens']);
	});

	it('parses Go-style durations', () => {
		expect(parseDuration('1s')).toBe(1000);
		expect(parseDuration('0.5s')).toBe(500);
		expect(parseDuration('1h2m3s')).toBe(3_723_000);
		expect(parseDuration('2')).toBe(2000);
		expect(parseDuration('soon')).toBeUndefined();
	});
});
