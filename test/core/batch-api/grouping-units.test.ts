/**
 * The pieces of grouped batch requests: custom IDs of grouped requests and their members, the
 * packing into request lines, and the resend rule for a record its grouped answer failed.
 */
import { describe, expect, it } from 'vitest';

import {
	customIdFor,
	groupCustomIdFor,
	groupRef,
	groupSizeOf,
	isMemberCustomId,
	memberCustomId,
	resendRefusal,
} from '../../../core/batch-api';
import { entryIdsOf } from '../../../core/batch-api/collect-group';
import { planUnits } from '../../../core/batch-api/grouping';
import type { ItemError } from '../../../core/types';

const NONCE = 'abcdefghij12';

describe('grouped custom IDs', () => {
	it('a grouped request names its size and position; its members are `<id>~<k>`, never sent', () => {
		const id = groupCustomIdFor(NONCE, 37, 10);
		expect(id).toBe('abcdefghij12-g10_11');
		expect(groupSizeOf(id)).toBe(10);
		expect(entryIdsOf(id)).toEqual(Array.from({ length: 10 }, (_, k) => `${id}~${k}`));
		expect(memberCustomId(id, 3)).toBe(`${id}~3`);
		expect(isMemberCustomId(`${id}~3`)).toBe(true);
		expect(isMemberCustomId(customIdFor(NONCE, 'T-1'))).toBe(false);
		expect(groupSizeOf(customIdFor(NONCE, 'T-1'))).toBeUndefined();
		expect(entryIdsOf(customIdFor(NONCE, 'T-1'))).toEqual([`${NONCE}-T-1`]);
	});

	it("a record ID shaped like a group's is hashed: no record's custom_id reads as a grouped request", () => {
		const id = customIdFor(NONCE, 'g10_3');
		expect(id).toMatch(/^abcdefghij12-h_[0-9a-f]{40}$/);
		expect(groupSizeOf(id)).toBeUndefined();
	});

	it('a ref is made again from the nonce and the record ID, and differs between submissions', () => {
		expect(groupRef(NONCE, 'T-1')).toBe(groupRef(NONCE, 'T-1'));
		expect(groupRef(NONCE, 'T-1')).toMatch(/^[0-9a-f]{8}$/);
		expect(groupRef('zzzzzzzzzzzz', 'T-1')).not.toBe(groupRef(NONCE, 'T-1'));
		expect(groupRef(NONCE, 'T-2')).not.toBe(groupRef(NONCE, 'T-1'));
	});

	it('sizes outside 2-999 are refused', () => {
		expect(() => groupCustomIdFor(NONCE, 0, 1)).toThrow(RangeError);
		expect(() => groupCustomIdFor(NONCE, 0, 1000)).toThrow(RangeError);
	});
});

describe('planUnits', () => {
	const rec = (i: number, o: { system?: string; alone?: boolean } = {}) => ({
		recordId: `r${i}`,
		promptHash: `h${i}`,
		request: { model: 'gpt-4o-mini', system: o.system ?? 'S', prompt: `text ${i}`, maxTokens: 50 },
		...(o.alone ? { alone: true } : {}),
	});
	const ids = (units: Array<Array<{ recordId: string }>>) =>
		units.map((u) => u.map((m) => m.recordId).join(','));

	it('consecutive records by count; a record marked alone and a change of system prompt close the pack', () => {
		const members = [
			rec(1),
			rec(2),
			rec(3),
			rec(4, { alone: true }),
			rec(5),
			rec(6),
			rec(7, { system: 'T' }),
			rec(8, { system: 'T' }),
		];
		expect(ids(planUnits(members, { recordsPerRequest: 2 }))).toEqual([
			'r1,r2',
			'r3',
			'r4',
			'r5,r6',
			'r7,r8',
		]);
	});

	it('without grouping (or 1 per request) every record is its own line', () => {
		expect(ids(planUnits([rec(1), rec(2)], undefined))).toEqual(['r1', 'r2']);
		expect(ids(planUnits([rec(1), rec(2)], { recordsPerRequest: 1 }))).toEqual(['r1', 'r2']);
	});
});

describe('resend rule for a record its grouped answer failed', () => {
	const err = (code: ItemError['code']): ItemError => ({
		code,
		message: 'x',
		retryable: code === 'malformed_output',
		attempts: 1,
	});

	it('malformed, schema, refusal or truncation of the group: sent again (alone) while under the limit; a lone record with the same failure is not', () => {
		for (const code of [
			'malformed_output',
			'schema_violation',
			'content_filter',
			'truncated',
			'invalid_request',
		] as const) {
			expect(resendRefusal(err(code), 1, 3, true)).toBeUndefined();
			expect(resendRefusal(err(code), 3, 3, true)).toBe('over_limit');
			expect(resendRefusal(err(code), 1, 3, false)).toBe('not_retryable');
		}
		expect(resendRefusal(err('auth'), 1, 3, true)).toBe('not_retryable');
		expect(resendRefusal(err('expired'), 1, 3, true)).toBeUndefined();
	});
});
