import { describe, expect, it } from 'vitest';

import {
	describeDuplicateIds,
	duplicateRecordIds,
	recordIdError,
	resolveRecordId,
} from '../../core/record-id';

describe('record ID resolution', () => {
	it('text and numbers are IDs; nothing means "hash the prompt"', () => {
		expect(resolveRecordId({ value: ' T-1 ', expression: true })).toEqual({ ok: true, id: 'T-1' });
		expect(resolveRecordId({ value: 7, expression: true })).toEqual({ ok: true, id: '7' });
		expect(resolveRecordId({ value: undefined, expression: true })).toEqual({
			ok: true,
			id: undefined,
		});
		// A literal empty parameter: no IDs wanted.
		expect(resolveRecordId({ value: '', expression: false })).toEqual({ ok: true, id: undefined });
	});

	it.each([
		[{ value: '', expression: true }, 'resolved to an empty string'],
		[{ value: '   ', expression: true }, 'resolved to an empty string'],
		[{ value: null, expression: true }, 'resolved to null'],
		[{ value: { a: 1 }, expression: true }, 'resolved to an object ({"a":1})'],
		[{ value: [1, 2], expression: true }, 'resolved to a list ([1,2])'],
		[{ value: true, expression: true }, 'resolved to boolean true'],
		[{ value: Number.NaN, expression: true }, 'resolved to NaN'],
		[{ thrown: new Error('no node "X"'), expression: true }, 'could not be resolved (no node "X")'],
	])('%j is broken: %s', (input, problem) => {
		expect(resolveRecordId(input)).toEqual({ ok: false, problem });
	});

	it('a long value is cut in the message', () => {
		const r = resolveRecordId({ value: { text: 'x'.repeat(500) }, expression: true });
		expect(r.ok).toBe(false);
		expect((r as { problem: string }).problem.length).toBeLessThan(100);
	});

	it('the item error names the parameter, the value and the fix', () => {
		const e = recordIdError('resolved to null');
		expect(e).toMatchObject({ code: 'invalid_input', retryable: false, attempts: 0 });
		expect(e.message).toMatch(
			/^Record ID resolved to null: it must resolve to a non-empty text or a number\. Fix the Record ID expression/,
		);
		expect(e.issues).toEqual([{ path: 'recordId', message: e.message, code: 'recordId' }]);
	});

	it('duplicates: the first five IDs with their counts, and the totals', () => {
		expect(duplicateRecordIds(['a', 'b', 'c'])).toBeUndefined();
		const ids = ['a', 'a', 'b', 'c', 'c', 'c', 'd', 'd', 'e', 'e', 'f', 'f', 'g', 'g', 'h'];
		const d = duplicateRecordIds(ids)!;
		expect(d).toEqual({
			first: [
				{ id: 'a', items: 2 },
				{ id: 'c', items: 3 },
				{ id: 'd', items: 2 },
				{ id: 'e', items: 2 },
				{ id: 'f', items: 2 },
			],
			ids: 6,
			items: 13,
		});
		expect(describeDuplicateIds(d)).toBe(
			'Duplicate record IDs in the input: "a" (2×), "c" (3×), "d" (2×), "e" (2×), "f" (2×) and 1 more — 6 IDs shared by 13 items. Items with one ID are one record in the ledger: give every record its own ID (Batch Prepare can dedupe).',
		);
	});
});
