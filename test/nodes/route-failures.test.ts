import { NodeOperationError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { executeRouteFailures } from '../../nodes/RouteFailures/execute';
import { RouteFailures } from '../../nodes/RouteFailures/RouteFailures.node';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const clock = new FakeClock(T0);
const error = (code: string, attempts = 1) => ({
	code,
	message: `${code}!`,
	retryable: true,
	attempts,
});

describe('Route Failures node', () => {
	it('declares Retry, Dead Letter and Filtered outputs', () => {
		const d = new RouteFailures().description;
		expect(d.name).toBe('routeFailures');
		expect(d.outputNames).toEqual(['Retry', 'Dead Letter', 'Filtered']);
	});

	it('routes every item by cause with pairedItem', async () => {
		const m = mockExecute({
			items: [
				{ id: 1, error: error('server_error') },
				{ id: 2, error: error('content_filter') },
				{
					id: 3,
					error: error('timeout'),
					retry: {
						attempts: 2,
						waitMs: 2000,
						retryAt: iso(0),
						history: [{ code: 'timeout', message: 'old', at: iso(-5) }],
					},
				},
				{ id: 4, error: error('invalid_request') },
			],
			parameters: { maxRetries: 2 },
		});
		const out = await executeRouteFailures(m.fns, { clock });
		expect(out).toEqual([
			[
				{
					json: {
						id: 1,
						retry: {
							attempts: 1,
							waitMs: 1000,
							retryAt: iso(1000),
							history: [{ code: 'server_error', message: 'server_error!', at: iso(0) }],
						},
					},
					pairedItem: { item: 0 },
				},
			],
			[
				{
					json: {
						id: 3,
						error: {
							...error('timeout'),
							history: [
								{ code: 'timeout', message: 'old', at: iso(-5) },
								{ code: 'timeout', message: 'timeout!', at: iso(0) },
							],
						},
						retry: { attempts: 2, exhausted: true },
					},
					pairedItem: { item: 2 },
				},
				{
					json: {
						id: 4,
						error: {
							...error('invalid_request'),
							history: [{ code: 'invalid_request', message: 'invalid_request!', at: iso(0) }],
						},
					},
					pairedItem: { item: 3 },
				},
			],
			[
				{
					json: {
						id: 2,
						error: {
							...error('content_filter'),
							history: [{ code: 'content_filter', message: 'content_filter!', at: iso(0) }],
						},
					},
					pairedItem: { item: 1 },
				},
			],
		]);
		expect(m.hints).toEqual([
			{ message: '1 to retry, 2 dead letter, 1 filtered', type: 'warning', location: 'outputPane' },
		]);
	});

	it('uses the configured codes and waits', async () => {
		const m = mockExecute({
			items: [{ error: error('schema_violation') }],
			parameters: {
				maxRetries: 1,
				retryCodes: ['schema_violation'],
				filteredCodes: [],
				options: { baseDelayMs: 250 },
			},
		});
		const [retry, dead, filtered] = await executeRouteFailures(m.fns, { clock });
		expect(retry.map((r) => r.json.retry)).toEqual([
			{
				attempts: 1,
				waitMs: 250,
				retryAt: iso(250),
				history: [{ code: 'schema_violation', message: 'schema_violation!', at: iso(0) }],
			},
		]);
		expect(dead).toEqual([]);
		expect(filtered).toEqual([]);
	});

	it('throws on contradictory configuration', async () => {
		for (const parameters of [
			{ maxRetries: -1 },
			{ retryCodes: ['timeout'], filteredCodes: ['timeout'] },
			{ retryCodes: ['nope'] },
		]) {
			await expect(
				executeRouteFailures(mockExecute({ items: [{}], parameters }).fns, { clock }),
				JSON.stringify(parameters),
			).rejects.toBeInstanceOf(NodeOperationError);
		}
	});
});
