import { NodeOperationError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { BatchPrepare } from '../../nodes/BatchPrepare/BatchPrepare.node';
import { router } from '../../nodes/BatchPrepare/actions/router';
import { FakeClock } from '../helpers/fake-clock';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const deps = { clock: new FakeClock(T0), runId: () => 'run-x' };
const stamp = (seq: number, total: number) => ({
	id: 'run-x',
	total,
	seq,
	startedAt: new Date(T0).toISOString(),
});

describe('Batch Prepare node', () => {
	it('declares Ready and Rejected outputs', () => {
		const d = new BatchPrepare().description;
		expect(d.name).toBe('batchPrepare');
		expect(d.outputs).toEqual(['main', 'main']);
		expect(d.outputNames).toEqual(['Ready', 'Rejected']);
	});

	it('sends every item to exactly one output with its pairedItem', async () => {
		const m = mockExecute({
			items: [
				{ id: 'a', body: 'Printer on fire', label: undefined },
				{ id: 'b', body: 'hi' },
				{ id: 'c', body: 'Already done', label: 'bug' },
				{ id: 'a', body: 'Printer on fire again' },
				{ id: 'e', body: 'Cannot log in' },
			],
			parameters: {
				operation: 'prepare',
				recordIdSource: 'field',
				recordIdField: 'id',
				keepItem: (_i: number, item: { json: Record<string, unknown> }) =>
					item.json.label === undefined,
				fieldRules: {
					rules: [{ field: 'body', required: true, type: 'string', minLength: 3, maxLength: 100 }],
				},
				dedupe: 'id',
				chunking: 'count',
				chunkSize: 2,
			},
		});
		const out = await router(m.fns, deps);
		const chunk = (index: number, size: number) => ({ index, size, count: 1 });
		expect(out).toEqual([
			[
				{
					json: {
						id: 'a',
						body: 'Printer on fire',
						label: undefined,
						recordId: 'a',
						chunk: chunk(0, 2),
						batchRun: stamp(0, 5),
					},
					pairedItem: { item: 0 },
				},
				{
					json: {
						id: 'e',
						body: 'Cannot log in',
						recordId: 'e',
						chunk: chunk(0, 2),
						batchRun: stamp(1, 5),
					},
					pairedItem: { item: 4 },
				},
			],
			[
				{
					json: {
						id: 'b',
						body: 'hi',
						recordId: 'b',
						error: {
							code: 'invalid_input',
							message: 'Invalid input: /body: must have at least 3 characters, has 2',
							retryable: false,
							attempts: 0,
							issues: [
								{
									path: '/body',
									message: 'must have at least 3 characters, has 2',
									code: 'minLength',
								},
							],
						},
						batchRun: stamp(2, 5),
					},
					pairedItem: { item: 1 },
				},
				{
					json: {
						id: 'c',
						body: 'Already done',
						label: 'bug',
						recordId: 'c',
						error: {
							code: 'invalid_input',
							message: 'Excluded by the pre-filter',
							retryable: false,
							attempts: 0,
							issues: [{ path: '/', message: 'excluded by the pre-filter', code: 'filtered' }],
						},
						batchRun: stamp(3, 5),
					},
					pairedItem: { item: 2 },
				},
				{
					json: {
						id: 'a',
						body: 'Printer on fire again',
						recordId: 'a',
						error: {
							code: 'duplicate',
							message: 'Duplicate of input item 0 (the same record ID "a")',
							retryable: false,
							attempts: 0,
							issues: [
								{ path: '/recordId', message: 'duplicate of input item 0', code: 'duplicate' },
							],
						},
						batchRun: stamp(4, 5),
					},
					pairedItem: { item: 3 },
				},
			],
		]);
		expect(m.hints).toEqual([
			{
				message: '2 ready, 3 rejected (1 filtered, 1 invalid, 1 duplicate) of 5 items; 1 chunks',
				type: 'warning',
				location: 'outputPane',
			},
		]);
	});

	it('pairs a per-chunk item with every record it holds', async () => {
		const m = mockExecute({
			items: [
				{ c: 'x', n: 1 },
				{ c: 'y', n: 2 },
				{ c: 'x', n: 3 },
			],
			parameters: {
				operation: 'prepare',
				recordIdSource: 'hash',
				hashFields: 'n',
				chunking: 'group',
				groupField: 'c',
				chunkOutput: 'perChunk',
			},
		});
		const [ready, rejected] = await router(m.fns, deps);
		expect(rejected).toEqual([]);
		expect(ready.map((r) => r.pairedItem)).toEqual([[{ item: 0 }, { item: 2 }], { item: 1 }]);
		expect(ready.map((r) => (r.json.items as Array<{ n: number }>).map((x) => x.n))).toEqual([
			[1, 3],
			[2],
		]);
		expect(ready[0].json.chunk).toEqual({ index: 0, size: 2, count: 2, keys: ['x'] });
	});

	it('emits one estimate item on Ready for the estimate operation', async () => {
		const m = mockExecute({
			items: [{ text: 'hello world' }, { text: 'hello world' }],
			parameters: {
				operation: 'estimate',
				model: 'gpt-4o',
				text: (_i: number, item: { json: { text: string } }) => item.json.text,
				outputTokensPerItem: 50,
				rpm: 60,
				tpm: 0,
			},
		});
		const [ready, rejected] = await router(m.fns, deps);
		expect(rejected).toEqual([]);
		expect(ready).toHaveLength(1);
		expect(ready[0].pairedItem).toEqual([{ item: 0 }, { item: 1 }]);
		expect(ready[0].json).toMatchObject({
			model: 'gpt-4o',
			tokenizer: 'o200k_base',
			items: 2,
			tokens: { inputTotal: 4, outputTotal: 100, total: 104 },
			cost: { known: true, realtimeUsd: 0.00101, batchUsd: 0.000505 },
			time: { seconds: 2, boundBy: 'rpm', rpm: 60, tpm: null },
		});
		expect(m.hints).toEqual([
			{ message: ready[0].json.summary, type: 'info', location: 'outputPane' },
		]);
	});

	it('throws a NodeOperationError for bad configuration before touching items', async () => {
		const bad = [
			{ operation: 'prepare', recordIdSource: 'field', recordIdField: '' },
			{ operation: 'prepare', itemSchema: '{not json' },
			{ operation: 'prepare', chunking: 'count', chunkSize: 0 },
			{ operation: 'prepare', chunking: 'group', groupField: '' },
			{ operation: 'estimate', model: '' },
		];
		for (const parameters of bad) {
			await expect(
				router(mockExecute({ items: [{ a: 1 }], parameters }).fns, deps),
				JSON.stringify(parameters),
			).rejects.toBeInstanceOf(NodeOperationError);
		}
	});

	it('rejects a pre-filter that is not a boolean, naming the item', async () => {
		const m = mockExecute({
			items: [{ a: 1 }, { a: 2 }],
			parameters: { operation: 'prepare', keepItem: (i: number) => (i === 1 ? 'yes' : true) },
		});
		await expect(router(m.fns, deps)).rejects.toThrow(
			'Keep Item If must be true or false, got "yes"',
		);
	});
});
