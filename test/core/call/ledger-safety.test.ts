/**
 * The ledger never hands one prompt's answer to another, two executions
 * of one job split it instead of paying twice, and the response cache never crosses jobs,
 * endpoints or credentials unless asked. Runs on SQLite and a real PostgreSQL.
 */
import { describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import type { ChatResponse, Provider } from '../../../core/call/providers/types';
import { BatchRunner, type Outcome, type RunItem } from '../../../core/call/runner';
import {
	claimOwner,
	createCheckpoint,
	ownerIsDead,
	type CheckpointOptions,
} from '../../../core/ledger/checkpoint';
import type { LedgerStore } from '../../../core/ledger/types';
import { FakeClock } from '../../helpers/fake-clock';
import {
	openedStores,
	postgresFactory,
	sqliteFactory,
	type StoreFactory,
} from '../ledger/fixtures';

function answer(text: string): ChatResponse {
	return { text, finishReason: 'stop', usage: { inputTokens: 10, outputTokens: 5 }, model: 'm' };
}

/**
 * A provider that answers `answer <prompt>` a moment later (a real 2 ms, so two runs over a
 * real database overlap as two executions would), counting calls.
 */
function paidProvider(gate?: { arrive(): Promise<void> }) {
	const calls: string[] = [];
	const provider: Provider = {
		name: 'openai',
		async complete(req) {
			calls.push(req.prompt);
			if (gate) await gate.arrive();
			await new Promise((r) => setTimeout(r, 2));
			return answer(`answer ${req.prompt}`);
		},
	};
	return { provider, calls };
}

/**
 * Holds the first answers until every execution has sent something (at most 5 s), so on a
 * loaded machine one execution cannot finish the job before the other has started.
 */
class Gate {
	private arrived = 0;
	private readonly open: Promise<void>;
	private release!: () => void;
	constructor(private readonly parties: number) {
		this.open = new Promise<void>((resolve) => (this.release = resolve));
		setTimeout(() => this.release(), 5000).unref();
	}
	arrive(): Promise<void> {
		if (++this.arrived >= this.parties) this.release();
		return this.open;
	}
}

function item(index: number, recordId: string, prompt: string, scope = 'scope'): RunItem {
	return {
		index,
		recordId,
		request: { model: 'm', prompt, maxTokens: 10 },
		inputTokens: 5,
		// The answer identity's shape (core/identity.ts): the call, then where it is answered.
		promptHash: `hash-${prompt}:${scope}`,
	};
}

async function runAll(
	clock: FakeClock,
	runs: Array<{ runner: BatchRunner; items: RunItem[] }>,
): Promise<Outcome[][]> {
	const all = Promise.all(runs.map((r) => r.runner.run(r.items)));
	let settled = false;
	void all.finally(() => (settled = true));
	// The databases and the provider answer in real time: the fake clock moves 20 ms per real
	// millisecond at most, so a lease never runs out just because the test clock raced ahead.
	while (!settled) {
		await new Promise((r) => setTimeout(r, 1));
		await clock.advance(20);
	}
	return all;
}

function runner(
	provider: Provider,
	store: LedgerStore,
	job: string,
	clock: FakeClock,
	options: CheckpointOptions = {},
) {
	return new BatchRunner({
		provider,
		flow: privateFlow({ rpm: 600_000, tpm: Infinity }, clock),
		clock,
		concurrency: 4,
		timeoutMs: 30_000,
		checkpoint: createCheckpoint(store, job, { clock, ...options }),
	});
}

const texts = (outcomes: Outcome[]) => outcomes.map((o) => (o.ok ? o.result.text : o.error.code));

describe.each<StoreFactory>([sqliteFactory, postgresFactory])('ledger safety: $name', (factory) => {
	const { fresh, second } = openedStores(factory);

	it('same record ID with two prompts: each item gets its own prompt answer on rerun', async () => {
		const store = await fresh();
		const clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
		const list = [item(0, 'same', 'alpha'), item(1, 'same', 'beta')];
		const first = paidProvider();
		const [one] = await runAll(clock, [
			{ runner: runner(first.provider, store, 'job', clock), items: list },
		]);
		expect(texts(one)).toEqual(['answer alpha', 'answer beta']);
		// Rerun, in both input orders: never the other prompt's answer.
		for (const order of [list, [...list].reverse()]) {
			const again = paidProvider();
			const [two] = await runAll(clock, [
				{ runner: runner(again.provider, store, 'job', clock), items: order },
			]);
			const byIndex = new Map(two.map((o) => [o.index, o]));
			expect(texts([byIndex.get(0)!, byIndex.get(1)!])).toEqual(['answer alpha', 'answer beta']);
			// One row per record ID: at most the prompt stored last is reused; nothing is wrong.
			expect(again.calls.length).toBeLessThanOrEqual(1);
		}
	});

	it('two executions of the same job at once split it and pay for no record twice', async () => {
		const store = await fresh();
		const other = await second(store);
		const clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
		const list = Array.from({ length: 100 }, (_, i) => item(i, `r${i}`, `p${i}`));
		// Each provider's first call counts once towards the gate.
		const gate = new Gate(2);
		const once = (g: Gate) => {
			let done = false;
			return {
				arrive: () => {
					if (done) return Promise.resolve();
					done = true;
					return g.arrive();
				},
			};
		};
		const a = paidProvider(once(gate));
		const b = paidProvider(once(gate));
		const [outA, outB] = await runAll(clock, [
			{ runner: runner(a.provider, store, 'job', clock), items: list },
			{ runner: runner(b.provider, other, 'job', clock), items: list },
		]);
		const paid = [...a.calls, ...b.calls];
		const paidTwice = paid.length - new Set(paid).size;
		console.log(
			`[10.2 ${factory.name}] execution A paid ${a.calls.length}, B paid ${b.calls.length}, paid twice ${paidTwice}`,
		);
		expect(paidTwice).toBe(0);
		expect(new Set(paid).size).toBe(100);
		expect(a.calls.length).toBeGreaterThan(0);
		expect(b.calls.length).toBeGreaterThan(0);
		// Both executions still end every item with its own answer.
		const want = list.map((i) => `answer ${i.request.prompt}`);
		expect(texts(outA)).toEqual(want);
		expect(texts(outB)).toEqual(want);
		const stats = await store.stats('job');
		expect({ succeeded: stats.succeeded, processing: stats.processing }).toEqual({
			succeeded: 100,
			processing: 0,
		});
	});

	it('a claim left by a crashed worker expires and is taken over', async () => {
		const store = await fresh();
		const clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
		// The crashed worker claimed r0 and died before answering.
		const crashed = createCheckpoint(store, 'job', { clock, leaseMs: 10_000 });
		expect((await crashed.claim('r0', 'hash-p0')).status).toBe('claimed');
		const live = paidProvider();
		const r = runner(live.provider, store, 'job', clock, { leaseMs: 10_000 });
		const started = clock.now();
		const [out] = await runAll(clock, [{ runner: r, items: [item(0, 'r0', 'p0')] }]);
		expect(texts(out)).toEqual(['answer p0']);
		expect(live.calls).toEqual(['p0']);
		// Taken over only once the lease ran out, not before.
		expect(clock.now() - started).toBeGreaterThanOrEqual(10_000);
		expect(clock.now() - started).toBeLessThan(10_000 + 5_000);
	});

	it('a claim of a dead process on this host is taken over at once', async () => {
		const store = await fresh();
		const clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
		const [here] = claimOwner().split('|');
		const deadOwner = [here, 2 ** 22 + 12345, 'gone', 'exec'].join('|');
		const crashed = createCheckpoint(store, 'job', { clock, owner: deadOwner });
		expect((await crashed.claim('r0', 'hash-p0')).status).toBe('claimed');
		const live = paidProvider();
		const started = clock.now();
		const [out] = await runAll(clock, [
			{ runner: runner(live.provider, store, 'job', clock), items: [item(0, 'r0', 'p0')] },
		]);
		expect(texts(out)).toEqual(['answer p0']);
		expect(live.calls).toEqual(['p0']);
		expect(clock.now() - started).toBeLessThan(5_000);
	});

	it('the response cache is off by default and never crosses jobs, endpoints or credentials', async () => {
		const store = await fresh();
		const clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
		const list = Array.from({ length: 10 }, (_, i) => item(i, `r${i}`, `p${i}`));
		// A dry run against a fake server fills the ledger of job "dry-run".
		const fake = paidProvider();
		const fakeCache = {};
		await runAll(clock, [
			{
				runner: runner(fake.provider, store, 'dry-run', clock, { cache: fakeCache }),
				items: list,
			},
		]);
		// Default (no cache option): the real job pays for its own answers.
		const real = paidProvider();
		await runAll(clock, [{ runner: runner(real.provider, store, 'real', clock), items: list }]);
		expect(real.calls).toHaveLength(10);
		// Cache on, scoped to the job: another job's answers are not reused.
		const scoped = paidProvider();
		await runAll(clock, [
			{
				runner: runner(scoped.provider, store, 'real-2', clock, { cache: fakeCache }),
				items: list,
			},
		]);
		expect(scoped.calls).toHaveLength(10);
		// Cross-job reuse asked, but another endpoint or credential: no reuse.
		for (const scope of ['openai|https://api.openai.com|cred-a', 'openai|http://fake|cred-b']) {
			const p = paidProvider();
			await runAll(clock, [
				{
					runner: runner(p.provider, store, `job-${scope}`, clock, {
						cache: { crossJob: true },
					}),
					items: list.map((i) => item(i.index, i.recordId, i.request.prompt, scope)),
				},
			]);
			expect(p.calls).toHaveLength(10);
		}
		// Same endpoint and credential, cross-job asked: reused, marked cached.
		const same = paidProvider();
		const [out] = await runAll(clock, [
			{
				runner: runner(same.provider, store, 'job-same', clock, {
					cache: { ...fakeCache, crossJob: true },
				}),
				items: list,
			},
		]);
		expect(same.calls).toHaveLength(0);
		expect(out.every((o) => o.ok && o.result.cached)).toBe(true);
	});
});

describe('dead owners', () => {
	it('only a process of this host and pid namespace can be known dead', () => {
		const [here, pid, processId] = claimOwner().split('|');
		expect(ownerIsDead(claimOwner())).toBe(false);
		// This pid, but another process start: this process restarted, the old claim is dead.
		expect(ownerIsDead([here, pid, 'an-earlier-start', 'x'].join('|'))).toBe(true);
		// A pid that does not run here.
		expect(ownerIsDead([here, 2 ** 22 + 1, processId, 'x'].join('|'))).toBe(true);
		// Same hostname, another container (pid namespace), even the same pid: not ours to judge.
		const otherContainer = `${here.split('/')[0]}/pid:[1]`;
		expect(ownerIsDead([otherContainer, pid, 'another', 'x'].join('|'))).toBe(false);
		expect(ownerIsDead(['elsewhere/pid:[1]', 2 ** 22 + 1, 'p', 'x'].join('|'))).toBe(false);
	});
});

describe('claim renewal', () => {
	it('a claim is renewed before sending when the limiter held the item for long', async () => {
		const clock = new FakeClock(0);
		const claims: number[] = [];
		const p = paidProvider();
		const flow = privateFlow({ rpm: 600_000, tpm: Infinity }, clock);
		// The flow controller makes the item wait 90 s (longer than the renewal threshold).
		flow.acquire = (_tokens: number, signal?: AbortSignal) => clock.sleep(90_000, signal);
		const runnerWithFakeLedger = new BatchRunner({
			provider: p.provider,
			flow,
			clock,
			concurrency: 1,
			timeoutMs: 30_000,
			checkpoint: {
				lookup: async (entries) => entries.map(() => undefined),
				claim: async () => {
					claims.push(clock.now());
					return { status: 'claimed' };
				},
				started: () => undefined,
				succeeded: () => undefined,
				failed: () => undefined,
				flush: async () => undefined,
			},
		});
		// No database here: the fake clock may move in big steps.
		const done = runnerWithFakeLedger.run([item(0, 'r0', 'p0')]);
		let settled = false;
		void done.finally(() => (settled = true));
		while (!settled) {
			await new Promise((r) => setTimeout(r, 3));
			await clock.advance(1000);
		}
		expect(texts(await done)).toEqual(['answer p0']);
		expect(claims).toEqual([0, 90_000]);
	});
});
