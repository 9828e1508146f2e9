import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

import { classifyError } from '../../../core/call/classify';
import { LlmBatchError, stopsTheRun } from '../../../core/call/errors';
import { retryAfterMs } from '../../../core/call/rate-headers';
import type { ErrorCode } from '../../../core/types';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function openAiError(status: number, body: object = {}, headers: Record<string, string> = {}) {
	return OpenAI.APIError.generate(status, { error: body }, undefined, new Headers(headers));
}
function anthropicError(status: number, type: string, headers: Record<string, string> = {}) {
	return Anthropic.APIError.generate(
		status,
		{ type: 'error', error: { type, message: type } },
		undefined,
		new Headers(headers),
	);
}
const code = (e: unknown, p: 'openai' | 'anthropic' = 'openai'): ErrorCode =>
	classifyError(e, p, NOW).code;

describe('classifyError', () => {
	it.each([
		[400, 'invalid_request'],
		[401, 'auth'],
		[403, 'auth'],
		[404, 'invalid_request'],
		[408, 'timeout'],
		[409, 'server_error'],
		[422, 'invalid_request'],
		[429, 'rate_limited'],
		[500, 'server_error'],
		[502, 'server_error'],
		[503, 'server_error'],
		[504, 'server_error'],
		[529, 'server_error'],
	] as const)('OpenAI status %i -> %s', (status, expected) => {
		expect(code(openAiError(status))).toBe(expected);
	});

	it.each([
		[400, 'invalid_request_error', 'invalid_request'],
		[401, 'authentication_error', 'auth'],
		[403, 'permission_error', 'auth'],
		[429, 'rate_limit_error', 'rate_limited'],
		[500, 'api_error', 'server_error'],
		[529, 'overloaded_error', 'server_error'],
	] as const)('Anthropic %i %s -> %s', (status, type, expected) => {
		expect(code(anthropicError(status, type), 'anthropic')).toBe(expected);
	});

	it('tells quota exhaustion from a rate limit on a 429', () => {
		expect(code(openAiError(429, { type: 'insufficient_quota', code: 'insufficient_quota' }))).toBe(
			'quota_exhausted',
		);
		expect(code(openAiError(429, { type: 'requests', code: 'rate_limit_exceeded' }))).toBe(
			'rate_limited',
		);
		expect(stopsTheRun('quota_exhausted')).toBe(true);
		expect(stopsTheRun('auth')).toBe(true);
		expect(stopsTheRun('server_error')).toBe(false);
	});

	it('reads Retry-After from the 429 (retry-after-ms first)', () => {
		expect(
			classifyError(openAiError(429, {}, { 'retry-after': '7' }), 'openai', NOW).retryAfterMs,
		).toBe(7000);
		expect(
			classifyError(
				openAiError(429, {}, { 'retry-after-ms': '250', 'retry-after': '7' }),
				'openai',
				NOW,
			).retryAfterMs,
		).toBe(250);
		expect(retryAfterMs({ 'retry-after': new Date(NOW + 3000).toUTCString() }, NOW)).toBe(3000);
		expect(retryAfterMs({}, NOW)).toBeUndefined();
	});

	it('maps Anthropic out-of-credit (400 credit balance, 402 billing_error) to quota_exhausted', () => {
		const credit = Anthropic.APIError.generate(
			400,
			{
				type: 'error',
				error: {
					type: 'invalid_request_error',
					message: 'Your credit balance is too low to access the Anthropic API.',
				},
			},
			undefined,
			new Headers(),
		);
		expect(code(credit, 'anthropic')).toBe('quota_exhausted');
		expect(code(anthropicError(402, 'billing_error'), 'anthropic')).toBe('quota_exhausted');
	});

	it('maps content-policy 400s to content_filter', () => {
		expect(code(openAiError(400, { code: 'content_policy_violation' }))).toBe('content_filter');
	});

	it('maps SDK connection, timeout and abort errors', () => {
		expect(code(new OpenAI.APIConnectionTimeoutError())).toBe('timeout');
		expect(code(new OpenAI.APIConnectionError({ message: 'Connection error.' }))).toBe(
			'connection',
		);
		expect(code(new Anthropic.APIConnectionTimeoutError(), 'anthropic')).toBe('timeout');
		expect(
			code(new Anthropic.APIConnectionError({ message: 'Connection error.' }), 'anthropic'),
		).toBe('connection');
		expect(code(new OpenAI.APIUserAbortError())).toBe('canceled');
		expect(code(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(
			'connection',
		);
	});

	it('maps an HTTP body that is not JSON to server_error (a provider fault, retryable)', () => {
		const e = classifyError(new SyntaxError('Unexpected end of JSON input'), 'openai', NOW);
		expect(e.code).toBe('server_error');
		expect(e.retryable).toBe(true);
		expect(e.message).not.toContain('Unexpected end');
	});

	it('keeps status, provider and request id, and marks retryability', () => {
		const e = classifyError(openAiError(503, {}, { 'x-request-id': 'req_1' }), 'openai', NOW);
		expect(e.toItemError(3)).toEqual({
			code: 'server_error',
			message: expect.stringContaining('503'),
			retryable: true,
			attempts: 3,
			status: 503,
			provider: 'openai',
			requestId: 'req_1',
		});
		expect(classifyError(openAiError(400), 'openai', NOW).retryable).toBe(false);
	});

	it('passes its own errors through untouched', () => {
		const own = new LlmBatchError('truncated', 'cut');
		expect(classifyError(own, 'openai', NOW)).toBe(own);
	});
});
