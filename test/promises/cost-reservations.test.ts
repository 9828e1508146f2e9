/**
 * The job budget's ledger reservations (core/call/spend-store.ts over the SQLite and PostgreSQL
 * stores): atomic across handles (executions), counting what was paid until the results carry
 * it, and ending with the lease of an execution that died — at once when its process is
 * known dead, as a record claim does.
 */
import { describe, expect, it } from 'vitest';

import { CostMeter, type Ticket } from '../../core/call/budget';
import { functionPricing } from '../../core/call/pricing';
import { LedgerSpendStore, RECORDS_READING_MS } from '../../core/call/spend-store';
import { claimOwner } from '../../core/ledger/checkpoint';
import type { LedgerStore } from '../../core/ledger/types';
import { FakeClock } from '../helpers/fake-clock';
import { openedStores, postgresFactory, result, sqliteFactory, T0 } from '../core/ledger/fixtures';

/** $1 per 1M tokens: a request of 100 prompt + 900 output tokens may cost $0.001. */
const pricing = functionPricing((_m, u) => (u.inputTokens + u.outputTokens) / 1e6);
const MOST = { inputTokens: 100, outputTokens: 900 };
const LEASE_MS = 60_000;

function meter(store: LedgerStore, clock: FakeClock, capUsd: number, owner = claimOwner()) {
	return new CostMeter({
		pricing,
		capUsd,
		store: new LedgerSpendStore(store, 'job', { clock, owner, leaseMs: LEASE_MS, pollMs: 1000 }),
	});
}

const never = new AbortController().signal;
const ticketOf = (r: unknown) => (r as { ticket: Ticket }).ticket;

/** A claim owner of this host whose process is gone (a pid no process has). */
function deadOwner(): string {
	const [host, , processId, execution] = claimOwner().split('|');
	return [host, 4_194_000, processId, execution].join('|');
}

for (const factory of [sqliteFactory, postgresFactory]) {
	describe(`job budget reservations (${factory.name})`, () => {
		const stores = openedStores(factory);

		it('two executions reserving at once never hold more than the cap', async () => {
			const a = await stores.fresh();
			const b = await stores.second(a);
			const clock = new FakeClock(Date.parse(T0));
			// Room for 5 requests' most; 20 ask at once from two handles, none answered yet.
			const meters = [meter(a, clock, 0.005), meter(b, clock, 0.005)];
			const stop = new AbortController();
			const asks = Array.from({ length: 20 }, (_, i) =>
				meters[i % 2].reserve('m', MOST, stop.signal),
			);
			// Those that fit come back at once; the others wait for an answer that never comes.
			await new Promise((r) => setTimeout(r, 200));
			stop.abort();
			const got = await Promise.all(asks);
			const taken = got.filter((g) => g && 'ticket' in g);
			expect(taken).toHaveLength(5);
			expect(got.filter((g) => g === undefined)).toHaveLength(15);
		});

		it('paid spend counts until the stored results carry it, then once', async () => {
			const store = await stores.fresh();
			const clock = new FakeClock(Date.parse(T0));
			const m = meter(store, clock, 0.0023);
			const first = await m.reserve('m', MOST, never);
			const ticket = (first as { ticket: Ticket }).ticket;
			// The answer cost $0.0012 (more than the estimate of $0.001: the cap still counts it all).
			expect(await m.settle(ticket, { inputTokens: 300, outputTokens: 900 })).toBeCloseTo(0.0012);
			const second = await m.reserve('m', MOST, never);
			expect(second && 'ticket' in second).toBe(true);
			await m.settle((second as { ticket: Ticket }).ticket, {
				inputTokens: 100,
				outputTokens: 100,
			});
			// $0.0014 paid: another $0.001 request would pass $0.0023.
			expect(await m.reserve('m', MOST, never)).toEqual({
				refused: expect.stringMatching(
					/^the job's cost cap of \$0\.002300 was reached \(\$0\.001400 spent by the job; the next request to m may cost up to \$0\.001000/,
				),
			});
			// The first answer's result is stored: counted there now, not twice.
			await store.writeBatch('job', [
				{ type: 'succeeded', result: result('r1', 'h1', { costUsd: 0.0012 }), at: T0 },
			]);
			await m.recorded([ticket]);
			expect((await store.stats('job')).costUsd).toBeCloseTo(0.0012, 12);
			// The reading of the records taken before the result was stored still counts it (from
			// the spend row), so nothing is missed; a later reading counts it once, from the records.
			expect(await m.reserve('m', MOST, never)).toEqual({
				refused: expect.stringContaining('($0.001400 spent by the job'),
			});
			await new Promise((r) => setTimeout(r, 1100));
			await clock.advance(RECORDS_READING_MS + 1000);
			expect(await m.reserve('m', MOST, never)).toEqual({
				refused: expect.stringContaining('($0.001400 spent by the job'),
			});
			// Deleting the job forgets its spend too.
			await store.deleteJob('job');
			expect(await m.reserve('m', MOST, never)).toMatchObject({ ticket: expect.anything() });
		});

		it("a crashed execution's reservation stops holding when its lease ends, and counts at its most", async () => {
			const a = await stores.fresh();
			const b = await stores.second(a);
			const clock = new FakeClock(Date.parse(T0));
			// Execution A (another host: only its lease can tell it is gone) reserves, then dies
			// with the request out.
			const crashed = meter(a, clock, 0.0015, 'other-host/ns|77|p|exec-a');
			const lost = ticketOf(await crashed.reserve('m', MOST, never));
			const waiting = meter(b, clock, 0.0015).reserve('m', MOST, never);
			let done = false;
			void waiting.then(() => (done = true));
			// The waiting execution looks again every second (of the fake clock).
			while (!done) {
				// Once it sleeps (the ledger answered), a second passes.
				while (clock.pending === 0 && !done) await new Promise((r) => setTimeout(r, 5));
				if (!done) await clock.advance(1000);
			}
			expect(clock.now() - Date.parse(T0)).toBeGreaterThanOrEqual(LEASE_MS);
			expect(clock.now() - Date.parse(T0)).toBeLessThanOrEqual(LEASE_MS + 1000);
			// The provider may have billed A's request: counted at its most, so B's does not fit.
			expect(await waiting).toEqual({
				refused: expect.stringContaining('($0.001000 spent by the job;'),
			});
			// A was only slow: its answer settles the reservation to what it cost.
			await crashed.settle(lost, { inputTokens: 100, outputTokens: 100 });
			expect(await meter(b, clock, 0.0015).reserve('m', MOST, never)).toMatchObject({
				ticket: expect.anything(),
			});
		});

		it("a dead process's reservation stops holding at once, and counts at its most", async () => {
			const a = await stores.fresh();
			const b = await stores.second(a);
			const clock = new FakeClock(Date.parse(T0));
			const crashed = meter(a, clock, 0.0025, deadOwner());
			expect(await crashed.reserve('m', MOST, never)).toMatchObject({ ticket: expect.anything() });
			expect(await crashed.reserve('m', MOST, never)).toMatchObject({ ticket: expect.anything() });
			// B asks for $0.001 with $0.002 held: the holder is dead, so no wait — and what it
			// reserved counts as paid.
			expect(await meter(b, clock, 0.0025).reserve('m', MOST, never)).toEqual({
				refused: expect.stringContaining('($0.002000 spent by the job;'),
			});
			expect(clock.pending).toBe(0);
		});
	});
}
