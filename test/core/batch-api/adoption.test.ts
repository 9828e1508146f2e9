/**
 * Adopting an orphan batch after a crash (core/batch-api/adoption.ts), on a fake clock: a
 * batch is adopted only with proof it is the submission's (the nonce in OpenAI's metadata, or
 * in an ended Anthropic batch's custom_ids); a same-sized batch of the same minutes never is
 * on size and time alone.
 */
import { describe, expect, it } from 'vitest';

import {
	CLOCK_SKEW_MS,
	CREATE_TIMEOUT_MS,
	adoptionWindow,
	nextAdoptionStep,
	verdictOf,
	type AdoptionInput,
	type Verdict,
} from '../../../core/batch-api/adoption';
import type { BatchStatus } from '../../../core/batch-api/types';

const T0 = Date.UTC(2026, 0, 1, 2, 0, 0);

function batch(
	id: string,
	createdAt: number,
	o: { total?: number; ended?: boolean } = {},
): BatchStatus {
	const total = o.total ?? 100;
	return {
		id,
		provider: 'anthropic',
		state: o.ended ? 'ended' : 'in_progress',
		providerStatus: o.ended ? 'ended' : 'in_progress',
		counts: {
			total,
			processing: o.ended ? 0 : total,
			succeeded: o.ended ? total : 0,
			errored: 0,
			canceled: 0,
			expired: 0,
		},
		createdAt: new Date(createdAt).toISOString(),
	};
}

function input(batches: BatchStatus[], o: Partial<AdoptionInput> = {}): AdoptionInput {
	return {
		writtenAt: T0,
		count: 100,
		ownerGone: true,
		found: { byKey: false, batches },
		owned: new Set(),
		verdicts: new Map<string, Verdict>(),
		now: T0 + 5_000,
		...o,
	};
}

describe('adoption of an orphan batch', () => {
	it('the window runs from the write (less the skew) to the create timeout (plus the skew)', () => {
		expect(adoptionWindow(T0)).toEqual({
			from: T0 - CLOCK_SKEW_MS,
			to: T0 + CREATE_TIMEOUT_MS + CLOCK_SKEW_MS,
		});
	});

	it('OpenAI: the batch carrying the submission nonce is adopted at once', () => {
		const b = batch('batch_1', T0 + 1000, { total: 7 });
		expect(nextAdoptionStep(input([b], { found: { byKey: true, batches: [b] } }))).toEqual({
			kind: 'adopt',
			batch: b,
		});
	});

	it('one unowned same-sized batch in the window, owner gone: never adopted while it runs; read once it has ended', () => {
		const b = batch('msgbatch_ours', T0 + 2000);
		expect(nextAdoptionStep(input([b])).kind).toBe('wait');
		expect(
			nextAdoptionStep(input([b], { now: T0 + CREATE_TIMEOUT_MS + CLOCK_SKEW_MS + 1 })).kind,
		).toBe('wait');
		const ended = batch('msgbatch_ours', T0 + 2000, { ended: true });
		expect(nextAdoptionStep(input([ended]))).toEqual({ kind: 'verify', batches: [ended] });
		expect(
			nextAdoptionStep(input([ended], { verdicts: new Map([['msgbatch_ours', 'ours']]) })),
		).toEqual({ kind: 'adopt', batch: ended });
	});

	it('a batch another ledger row owns, another size, or created outside the window is no candidate', () => {
		const owned = batch('msgbatch_owned', T0 + 1000);
		const size = batch('msgbatch_size', T0 + 1000, { total: 99 });
		const before = batch('msgbatch_before', T0 - CLOCK_SKEW_MS - 1);
		const after = batch('msgbatch_after', T0 + CREATE_TIMEOUT_MS + CLOCK_SKEW_MS + 1);
		const step = nextAdoptionStep(
			input([owned, size, before, after], { owned: new Set(['msgbatch_owned']) }),
		);
		expect(step).toEqual({ kind: 'abandon', reason: expect.any(String) });
	});

	it("a stranger's same-sized batch beside ours (before or after it): none adopted while both run", () => {
		const stranger = batch('msgbatch_stranger', T0 + 500);
		const ours = batch('msgbatch_ours', T0 + 1500);
		const late = batch('msgbatch_stranger2', T0 + 60_000);
		for (const set of [
			[stranger, ours],
			[ours, late],
			[stranger, ours, late],
		]) {
			expect(nextAdoptionStep(input(set)).kind).toBe('wait');
		}
	});

	it('ambiguous candidates: once they end, their custom_ids are read and the one that carries the nonce is adopted', () => {
		const stranger = batch('msgbatch_stranger', T0 + 500, { ended: true });
		const ours = batch('msgbatch_ours', T0 + 1500, { ended: true });
		const step = nextAdoptionStep(input([stranger, ours]));
		expect(step).toEqual({ kind: 'verify', batches: [stranger, ours] });
		const verdicts = new Map<string, Verdict>([
			['msgbatch_stranger', 'foreign'],
			['msgbatch_ours', 'ours'],
		]);
		expect(nextAdoptionStep(input([stranger, ours], { verdicts }))).toEqual({
			kind: 'adopt',
			batch: ours,
		});
	});

	it('the stranger ended first and proved foreign: the one left still waits until it has ended', () => {
		const stranger = batch('msgbatch_stranger', T0 + 500, { ended: true });
		const ours = batch('msgbatch_ours', T0 + 1500);
		expect(nextAdoptionStep(input([stranger, ours])).kind).toBe('verify');
		expect(
			nextAdoptionStep(
				input([stranger, ours], { verdicts: new Map([['msgbatch_stranger', 'foreign']]) }),
			).kind,
		).toBe('wait');
	});

	it('a single ended candidate is read before adoption; foreign: the intent is abandoned (records free)', () => {
		const stranger = batch('msgbatch_stranger', T0 + 500, { ended: true });
		expect(nextAdoptionStep(input([stranger])).kind).toBe('verify');
		expect(
			nextAdoptionStep(input([stranger], { verdicts: new Map([['msgbatch_stranger', 'foreign']]) }))
				.kind,
		).toBe('abandon');
	});

	it('the owner may still be alive: no batch yet waits until the window has closed, then the intent is abandoned', () => {
		const alive = { ownerGone: false };
		expect(nextAdoptionStep(input([], { ...alive, now: T0 + CREATE_TIMEOUT_MS })).kind).toBe(
			'wait',
		);
		expect(
			nextAdoptionStep(input([], { ...alive, now: T0 + CREATE_TIMEOUT_MS + CLOCK_SKEW_MS + 1 }))
				.kind,
		).toBe('abandon');
	});

	it('a verdict is ours only when every line read carried the nonce', () => {
		expect(verdictOf({ lines: 100, matched: 100 })).toBe('ours');
		expect(verdictOf({ lines: 100, matched: 99 })).toBe('foreign');
		expect(verdictOf({ lines: 0, matched: 0 })).toBe('foreign');
	});
});
