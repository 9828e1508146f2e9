import { describe, expect, it } from 'vitest';

import {
	contentHash,
	estimateRun,
	prepareItems,
	validateItem,
	type PrepareConfig,
	type PrepareInput,
} from '../../../core/prepare';
import { samplePositions, seededRandom } from '../../../core/random';
import { countTokens, estimateTokens } from '../../../core/tokens';
import { compileSchema } from '../../../core/schema';

const RUN = { id: 'run-1', startedAt: '2025-01-01T00:00:00.000Z' };

function config(overrides: Partial<PrepareConfig> = {}): PrepareConfig {
	return {
		recordId: { mode: 'field', field: 'id' },
		idField: 'recordId',
		dedupe: 'none',
		contentFields: [],
		rules: [],
		sample: { mode: 'none' },
		chunking: { mode: 'none' },
		chunkOutput: 'perItem',
		chunkField: 'chunk',
		runField: 'batchRun',
		...overrides,
	};
}

const inputs = (...jsons: Array<Record<string, unknown>>): PrepareInput[] =>
	jsons.map((json) => ({ json }));
const stamp = (seq: number, total: number) => ({
	id: 'run-1',
	total,
	seq,
	startedAt: RUN.startedAt,
});

describe('validateItem', () => {
	it('lists every problem with its path', () => {
		const issues = validateItem({ subject: '', body: 'x', priority: 'high', tags: [1, 2, 3] }, [
			{ field: 'subject', required: true },
			{ field: 'body', type: 'string', minLength: 5 },
			{ field: 'priority', type: 'number' },
			{ field: 'tags', type: 'array', maxLength: 2 },
			{ field: 'customer.id', required: true },
			{ field: 'optional', type: 'string' },
		]);
		expect(issues).toEqual([
			{ path: '/subject', message: 'is required', code: 'required' },
			{ path: '/body', message: 'must have at least 5 characters, has 1', code: 'minLength' },
			{ path: '/priority', message: 'must be number, got string', code: 'type' },
			{ path: '/tags', message: 'must have at most 2 entries, has 3', code: 'maxLength' },
			{ path: '/customer/id', message: 'is required', code: 'required' },
		]);
	});

	it('appends JSON Schema issues for the whole item', () => {
		const schema = compileSchema({
			type: 'object',
			properties: { email: { type: 'string', format: 'email' } },
		});
		if (!schema.ok) throw new Error(schema.message);
		expect(validateItem({ email: 'nope' }, [], schema.validate)).toEqual([
			{ path: '/email', message: 'must match format "email"', code: 'format' },
		]);
	});
});

describe('record IDs', () => {
	it('hashes chosen fields independent of key order', () => {
		expect(contentHash({ a: 1, b: { x: 1, y: 2 } }, [])).toBe(
			contentHash({ b: { y: 2, x: 1 }, a: 1 }, []),
		);
		expect(contentHash({ a: 1, b: 2 }, ['a'])).toBe(contentHash({ a: 1, b: 3 }, ['a']));
		expect(contentHash({ a: 1 }, [])).toMatch(/^[0-9a-f]{16}$/);
	});

	it('gives the same ID when Batch Prepare runs again on its own output', () => {
		const cfg = config({ recordId: { mode: 'hash', fields: [] } });
		const first = prepareItems(inputs({ text: 'hello' }), cfg, RUN).ready[0];
		const second = prepareItems([{ json: first.json }], cfg, {
			id: 'run-2',
			startedAt: RUN.startedAt,
		}).ready[0];
		expect(second.json.recordId).toBe(first.json.recordId);
	});
});

describe('prepareItems', () => {
	it('passes valid items with ID and run stamp, rejects the rest with every problem', () => {
		const result = prepareItems(
			inputs(
				{ id: 1, body: 'long enough' },
				{ id: 2, body: 'no' },
				{ body: 'missing id' },
				{ id: 4, body: 'fine too' },
			),
			config({ rules: [{ field: 'body', type: 'string', minLength: 3 }] }),
			RUN,
		);
		expect(result.ready).toEqual([
			{ json: { id: 1, body: 'long enough', recordId: '1', batchRun: stamp(0, 4) }, sources: [0] },
			{ json: { id: 4, body: 'fine too', recordId: '4', batchRun: stamp(1, 4) }, sources: [3] },
		]);
		expect(result.rejected).toEqual([
			{
				json: {
					id: 2,
					body: 'no',
					recordId: '2',
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
					batchRun: stamp(2, 4),
				},
				sources: [1],
			},
			{
				json: {
					body: 'missing id',
					error: {
						code: 'invalid_input',
						message:
							'Invalid input: /id: record ID field is missing: it must be a non-empty text or a number',
						retryable: false,
						attempts: 0,
						issues: [
							{
								path: '/id',
								message: 'record ID field is missing: it must be a non-empty text or a number',
								code: 'recordId',
							},
						],
					},
					batchRun: stamp(3, 4),
				},
				sources: [2],
			},
		]);
		expect(result.stats).toEqual({
			input: 4,
			ready: 2,
			rejected: 2,
			chunks: 0,
			byReason: { filtered: 0, invalid: 2, duplicate: 0, not_sampled: 0 },
		});
	});

	it('rejects pre-filtered items with reason filtered', () => {
		const result = prepareItems(
			[
				{ json: { id: 'a' }, keep: false },
				{ json: { id: 'b' }, keep: true },
			],
			config(),
			RUN,
		);
		expect(result.ready.map((r) => r.json.recordId)).toEqual(['b']);
		expect(result.rejected[0].json.error).toEqual({
			code: 'invalid_input',
			message: 'Excluded by the pre-filter',
			retryable: false,
			attempts: 0,
			issues: [{ path: '/', message: 'excluded by the pre-filter', code: 'filtered' }],
		});
	});

	it('names what a bad ID field held, and the IDs two ready items share when dedupe is off', () => {
		const r = prepareItems(
			inputs(
				{ id: 'a' },
				{ id: { x: 1 } },
				{ id: null },
				{ id: '  ' },
				{ id: 'a' },
				{ id: 2 },
				{ id: 2 },
			),
			config(),
			RUN,
		);
		expect(
			r.rejected.map(
				(i) => (i.json.error as { issues: Array<{ message: string }> }).issues[0].message,
			),
		).toEqual([
			'record ID field is an object ({"x":1}): it must be a non-empty text or a number',
			'record ID field is null: it must be a non-empty text or a number',
			'record ID field is an empty string: it must be a non-empty text or a number',
		]);
		expect(r.stats.duplicateIds).toEqual({
			first: [
				{ id: 'a', items: 2 },
				{ id: '2', items: 2 },
			],
			ids: 2,
			items: 4,
		});
		// Deduped by ID: nothing left to name.
		expect(
			prepareItems(inputs({ id: 'a' }, { id: 'a' }), config({ dedupe: 'id' }), RUN).stats
				.duplicateIds,
		).toBeUndefined();
	});

	it('drops duplicate IDs and duplicate content as counted rejections', () => {
		const byId = prepareItems(
			inputs({ id: 'x', v: 1 }, { id: 'y', v: 2 }, { id: 'x', v: 3 }),
			config({ dedupe: 'id' }),
			RUN,
		);
		expect(byId.ready.map((r) => r.sources[0])).toEqual([0, 1]);
		expect(byId.rejected).toHaveLength(1);
		expect(byId.rejected[0].sources).toEqual([2]);
		expect(byId.rejected[0].json.error).toEqual({
			code: 'duplicate',
			message: 'Duplicate of input item 0 (the same record ID "x")',
			retryable: false,
			attempts: 0,
			issues: [{ path: '/recordId', message: 'duplicate of input item 0', code: 'duplicate' }],
		});

		const byContent = prepareItems(
			inputs({ id: 1, body: 'same' }, { id: 2, body: 'same' }, { id: 3, body: 'other' }),
			config({ dedupe: 'content', contentFields: ['body'] }),
			RUN,
		);
		expect(byContent.ready.map((r) => r.json.id)).toEqual([1, 3]);
		expect(
			byContent.rejected.map((r) => [r.json.id, (r.json.error as { message: string }).message]),
		).toEqual([[2, 'Duplicate of input item 0 (the same content)']]);
		expect(byContent.stats.byReason.duplicate).toBe(1);
	});

	it('samples the first N valid items', () => {
		const result = prepareItems(
			inputs({ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }),
			config({ sample: { mode: 'first', size: 2 } }),
			RUN,
		);
		expect(result.ready.map((r) => r.json.id)).toEqual([1, 2]);
		expect(
			result.rejected.map((r) => [
				r.json.id,
				(r.json.error as { issues: Array<{ code: string }> }).issues[0].code,
			]),
		).toEqual([
			[3, 'not_sampled'],
			[4, 'not_sampled'],
		]);
	});

	it('samples a seeded random N reproducibly, in input order', () => {
		const many = inputs(...Array.from({ length: 50 }, (_, i) => ({ id: i })));
		const cfg = config({ sample: { mode: 'random', size: 5, seed: 42 } });
		const a = prepareItems(many, cfg, RUN).ready.map((r) => r.json.id as number);
		const b = prepareItems(many, cfg, RUN).ready.map((r) => r.json.id as number);
		const c = prepareItems(
			many,
			config({ sample: { mode: 'random', size: 5, seed: 7 } }),
			RUN,
		).ready.map((r) => r.json.id as number);
		expect(a).toEqual(b);
		expect(a).not.toEqual(c);
		expect(a).toHaveLength(5);
		expect([...a].sort((x, y) => x - y)).toEqual(a);
	});

	it('chunks by count with index, size and count on every item', () => {
		const result = prepareItems(
			inputs({ id: 1 }, { id: 2 }, { id: 3 }),
			config({ chunking: { mode: 'count', size: 2 } }),
			RUN,
		);
		expect(result.ready.map((r) => r.json.chunk)).toEqual([
			{ index: 0, size: 2, count: 2 },
			{ index: 0, size: 2, count: 2 },
			{ index: 1, size: 1, count: 2 },
		]);
		expect(result.stats.chunks).toBe(2);
	});

	it('chunks by token budget, giving an oversized item its own chunk', () => {
		const text = (n: number) => 'word '.repeat(n).trim();
		const t10 = countTokens(text(10), 'gpt-4o');
		const items: PrepareInput[] = [
			{ json: { id: 1 }, tokenText: text(10) },
			{ json: { id: 2 }, tokenText: text(10) },
			{ json: { id: 3 }, tokenText: text(100) },
			{ json: { id: 4 }, tokenText: text(10) },
		];
		const result = prepareItems(
			items,
			config({ chunking: { mode: 'tokens', budget: 2 * t10, model: 'gpt-4o' } }),
			RUN,
		);
		expect(result.ready.map((r) => [r.json.id, (r.json.chunk as { index: number }).index])).toEqual(
			[
				[1, 0],
				[2, 0],
				[3, 1],
				[4, 2],
			],
		);
		expect((result.ready[0].json.chunk as { tokens: number }).tokens).toBe(2 * t10);
	});

	it('keeps a group key together and packs whole groups', () => {
		const tickets = inputs(
			{ id: 1, c: 'A' },
			{ id: 2, c: 'B' },
			{ id: 3, c: 'A' },
			{ id: 4, c: 'C' },
			{ id: 5, c: 'B' },
		);
		const perGroup = prepareItems(
			tickets,
			config({ chunking: { mode: 'group', field: 'c' } }),
			RUN,
		);
		expect(perGroup.ready.map((r) => [r.json.id, r.json.chunk])).toEqual([
			[1, { index: 0, size: 2, count: 3, keys: ['A'] }],
			[3, { index: 0, size: 2, count: 3, keys: ['A'] }],
			[2, { index: 1, size: 2, count: 3, keys: ['B'] }],
			[5, { index: 1, size: 2, count: 3, keys: ['B'] }],
			[4, { index: 2, size: 1, count: 3, keys: ['C'] }],
		]);
		const packed = prepareItems(
			tickets,
			config({ chunking: { mode: 'group', field: 'c', maxItems: 3 } }),
			RUN,
		);
		expect(packed.ready.map((r) => (r.json.chunk as { keys: string[] }).keys)).toEqual([
			['A'],
			['A'],
			['B', 'C'],
			['B', 'C'],
			['B', 'C'],
		]);
	});

	it('emits one item per chunk holding the list', () => {
		const result = prepareItems(
			inputs({ id: 1 }, { id: 2 }, { id: 3 }),
			config({ chunking: { mode: 'count', size: 2 }, chunkOutput: 'perChunk' }),
			RUN,
		);
		expect(result.ready).toEqual([
			{
				json: {
					chunk: { index: 0, size: 2, count: 2 },
					items: [
						{ id: 1, recordId: '1' },
						{ id: 2, recordId: '2' },
					],
					recordIds: ['1', '2'],
					batchRun: stamp(0, 2),
				},
				sources: [0, 1],
			},
			{
				json: {
					chunk: { index: 1, size: 1, count: 2 },
					items: [{ id: 3, recordId: '3' }],
					recordIds: ['3'],
					batchRun: stamp(1, 2),
				},
				sources: [2],
			},
		]);
	});

	it('accounts for every input item exactly once', () => {
		const many: PrepareInput[] = Array.from({ length: 200 }, (_, i) => ({
			json: { id: i % 150, body: i % 13 === 0 ? '' : `text ${i}` },
			keep: i % 17 !== 0,
		}));
		const result = prepareItems(
			many,
			config({
				dedupe: 'id',
				rules: [{ field: 'body', required: true }],
				sample: { mode: 'random', size: 100, seed: 3 },
				chunking: { mode: 'count', size: 7 },
			}),
			RUN,
		);
		const seen = [...result.ready, ...result.rejected]
			.flatMap((r) => r.sources)
			.sort((a, b) => a - b);
		expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i));
		expect(result.stats.ready + result.stats.rejected).toBe(200);
		const reasons = result.stats.byReason;
		expect(reasons.filtered + reasons.invalid + reasons.duplicate + reasons.not_sampled).toBe(
			result.stats.rejected,
		);
		expect(result.stats.ready).toBe(100);
		const seqs = [...result.ready, ...result.rejected].map(
			(r) => (r.json.batchRun as { seq: number }).seq,
		);
		expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i));
	});
});

describe('sampling helpers', () => {
	it('seededRandom is deterministic and in [0, 1)', () => {
		const a = seededRandom(1);
		const b = seededRandom(1);
		const xs = Array.from({ length: 1000 }, () => a());
		expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
		expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
		expect(Math.max(...xs)).toBeLessThan(1);
	});

	it('samplePositions returns distinct sorted positions', () => {
		const p = samplePositions(10, 4, seededRandom(5));
		expect(new Set(p).size).toBe(4);
		expect(p).toEqual([...p].sort((x, y) => x - y));
		expect(samplePositions(3, 10, seededRandom(5))).toEqual([0, 1, 2]);
	});
});

describe('estimateRun', () => {
	it('counts tokens, prices realtime and batch, and finds the binding limit', () => {
		const texts = ['hello world', 'hello world', 'hello world', 'hello world'];
		const est = estimateRun(texts, {
			model: 'gpt-4o-mini',
			outputTokensPerItem: 100,
			systemPrompt: 'hello world',
			rpm: 2,
			tpm: 1_000_000,
		});
		expect(est.tokenizer).toBe('o200k_base');
		expect(est.tokens).toEqual({
			inputTotal: 16,
			inputMean: 4,
			inputMax: 4,
			systemPerRequest: 2,
			outputPerItem: 100,
			outputTotal: 400,
			total: 416,
		});
		// 16 * 0.15 / 1M + 400 * 0.6 / 1M
		expect(est.cost).toMatchObject({
			known: true,
			realtimeUsd: 0.0002424,
			batchUsd: 0.0001212,
			inputPer1M: 0.15,
			outputPer1M: 0.6,
			batchDiscount: 0.5,
		});
		expect(est.time).toEqual({ seconds: 120, minutes: 2, boundBy: 'rpm', rpm: 2, tpm: 1_000_000 });
		expect(est.itemsOverContextWindow).toBe(0);
		expect(est.summary).toContain('4 items');
		expect(est.perItem).toBeUndefined();
	});

	it('is bound by TPM when tokens are the scarcer limit', () => {
		// 3,703 letters: 1,000 tokens by the one estimator (core/tokens.ts).
		const est = estimateRun(['x'.repeat(3703)], {
			model: 'claude-haiku-4-5',
			outputTokensPerItem: 0,
			rpm: 1000,
			tpm: 500,
		});
		expect(est.tokenizer).toBe('approx');
		expect(est.tokens.inputTotal).toBe(1000);
		expect(est.time.boundBy).toBe('tpm');
		expect(est.time.seconds).toBe(120);
	});

	it('reports unknown prices and oversize items', () => {
		const est = estimateRun(['x'.repeat(37_037)], {
			model: 'llama3',
			outputTokensPerItem: 10,
			perItem: true,
		});
		expect(est.cost).toMatchObject({ known: false, realtimeUsd: null, batchUsd: null });
		expect(est.time.seconds).toBeNull();
		expect(est.itemsOverContextWindow).toBe(1);
		expect(est.perItem).toEqual([{ index: 0, inputTokens: estimateTokens('x'.repeat(37_037)) }]);
		expect(est.perItem?.[0].inputTokens).toBe(10_000);
	});
});
