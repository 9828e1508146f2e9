/**
 * Records per Request on the ledger claims: each record is claimed
 * before its group is sent, so a record another execution holds never rides in a group,
 * one it answered is used as is, and every answered request is counted once.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { privateFlow } from '../../../core/call/limiter/in-process';
import { runGrouped } from '../../../core/call/group';
import type { ChatRequest, ChatResponse, Provider } from '../../../core/call/providers/types';
import { LlmBatchError } from '../../../core/call/errors';
import { BatchRunner, type Outcome, type RunItem } from '../../../core/call/runner';
import { createCheckpoint } from '../../../core/ledger/checkpoint';
import type { Checkpoint, LedgerStore } from '../../../core/ledger/types';
import { groupAnswer, parseGroupPrompt } from '../../../sandbox/group';
import { expectedReply } from '../../../sandbox/reply';
import { FakeClock } from '../../helpers/fake-clock';
import { result, sqliteFactory } from '../ledger/fixtures';

const costOf = (_m: string, u: { inputTokens: number; outputTokens: number }) =>
	(u.inputTokens * 0.15 + u.outputTokens * 0.6) / 1e6;

function provider() {
	const requests: ChatRequest[] = [];
	const p: Provider = {
		name: 'openai',
		async complete(req): Promise<ChatResponse> {
			requests.push(req);
			await new Promise((r) => setImmediate(r));
			const records = parseGroupPrompt(req.prompt);
			const text = records
				? JSON.stringify(groupAnswer(records, req.schema))
				: expectedReply({ prompt: req.prompt, schema: req.schema }).text;
			return {
				text,
				finishReason: 'stop',
				usage: {
					inputTokens: Math.ceil(((req.system ?? '').length + req.prompt.length) / 4),
					outputTokens: Math.ceil(text.length / 4),
				},
				model: 'gpt-4o-mini',
			};
		},
	};
	return { p, requests };
}

function records(n: number): RunItem[] {
	return Array.from({ length: n }, (_, i) => ({
		index: i,
		recordId: `R${i}`,
		request: { model: 'gpt-4o-mini', system: 'Echo.', prompt: `ticket ${i} text`, maxTokens: 50 },
		inputTokens: 20,
		promptHash: `h${i}`,
	}));
}

describe('Records per Request with ledger claims', () => {
	const open: LedgerStore[] = [];
	afterEach(async () => {
		for (const s of open.splice(0)) await s.close();
	});

	it('leaves a record another execution holds out of every group, uses one it answered, counts each request once', async () => {
		const clock = new FakeClock();
		const store = await sqliteFactory.create();
		open.push(store);
		await store.init();
		// Another execution (another host) answered R2 and holds R1 with a 10 s lease.
		const other = createCheckpoint(store, 'job', {
			clock,
			owner: 'other-host|1|1',
			leaseMs: 10_000,
		});
		expect((await other.claim('R1', 'h1')).status).toBe('claimed');
		expect((await other.claim('R2', 'h2')).status).toBe('claimed');
		other.succeeded(result('R2', 'h2', { text: 'answered by the other execution' }));
		await other.flush();

		const { p, requests } = provider();
		const mine = createCheckpoint(store, 'job', { clock });
		const runner = new BatchRunner({
			provider: p,
			flow: privateFlow({ rpm: 1e9, tpm: 1e12 }, clock),
			clock,
			concurrency: 4,
			timeoutMs: 30_000,
			costOf,
			checkpoint: mine,
		});
		const list = records(7);
		const done = runGrouped(runner, list, {
			recordsPerRequest: 3,
			maxTokensPerRequest: 0,
			checkpoint: mine,
		});
		let settled = false;
		void done.finally(() => (settled = true));
		// R1 waits for the other execution's lease (10 s) on the fake clock.
		while (!settled) {
			await new Promise((r) => setTimeout(r, 1));
			await clock.advance(500);
		}
		const { outcomes, stats } = await done;

		const sentIn = (id: string) =>
			requests.filter((q) => q.prompt.includes(`<record id="${id}"`)).length;
		const sentAlone = (id: string) =>
			requests.filter((q) => q.prompt === `ticket ${id.slice(1)} text`).length;
		// R1 was held elsewhere: never in a group, sent alone once the lease ran out.
		expect(sentIn('R1')).toBe(0);
		expect(sentAlone('R1')).toBe(1);
		// R2 was answered elsewhere: not sent at all, its stored answer used.
		expect(sentIn('R2') + sentAlone('R2')).toBe(0);
		// The other five went in groups (3 + 2), each once.
		for (const id of ['R0', 'R3', 'R4', 'R5', 'R6']) expect(sentIn(id)).toBe(1);
		expect(requests.length).toBe(3);
		expect(stats.groups).toBe(2);
		expect(stats.answered).toBe(5);

		expect(outcomes.map((o) => o.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
		const ok = outcomes.filter((o): o is Extract<Outcome, { ok: true }> => o.ok);
		expect(ok.length).toBe(7);
		expect(ok.map((o) => o.result.recordId)).toEqual(list.map((i) => i.recordId));
		expect(ok[2].result.text).toBe('answered by the other execution');
		for (const o of ok)
			if (o.index !== 2)
				expect(o.result.text).toBe(expectedReply({ prompt: list[o.index].request.prompt }).text);
		// Each answered request counted once; the records' shares add up to it.
		const billed = requests.reduce(
			(a, q) => a + Math.ceil(((q.system ?? '').length + q.prompt.length) / 4),
			0,
		);
		expect(runner.stats.inputTokens).toBe(billed);
		const shares = ok
			.filter((o) => o.index !== 2)
			.reduce((a, o) => a + o.result.usage.inputTokens, 0);
		expect(shares).toBe(billed);
		expect(runner.stats).toMatchObject({ total: 7, done: 7, succeeded: 7, failed: 0, cached: 1 });
		// Every record is stored as succeeded once, by its own ID.
		const stored = await mine.lookup(
			list.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
		);
		expect(stored.map((r) => r?.recordId)).toEqual(list.map((i) => i.recordId));
	});

	it("renews the claims before each attempt of a group; a record lost meanwhile sends the group's records alone", async () => {
		const clock = new FakeClock();
		const store = await sqliteFactory.create();
		open.push(store);
		await store.init();
		const mine = createCheckpoint(store, 'job', { clock });
		// The second claim of R0 (the runner's, before the group's second attempt) finds it taken.
		let r0Claims = 0;
		const cp = Object.create(mine) as Checkpoint;
		cp.claim = async (recordId, promptHash) => {
			if (recordId === 'R0' && ++r0Claims === 2)
				return { status: 'busy', leaseUntil: new Date(clock.now()).toISOString(), owner: 'x' };
			return mine.claim(recordId, promptHash);
		};
		const { p, requests } = provider();
		// The group's first attempt meets a server error.
		let calls = 0;
		const flaky: Provider = {
			name: 'openai',
			complete: (req, opts) => {
				if (++calls === 1) {
					requests.push(req);
					return Promise.reject(
						new LlmBatchError('server_error', 'Server error (500)', { status: 500 }),
					);
				}
				return p.complete(req, opts);
			},
		};
		const runner = new BatchRunner({
			provider: flaky,
			flow: privateFlow({ rpm: 1e9, tpm: 1e12 }, clock),
			clock,
			concurrency: 4,
			timeoutMs: 30_000,
			costOf,
			checkpoint: cp,
		});
		const list = records(3);
		const done = runGrouped(runner, list, {
			recordsPerRequest: 3,
			maxTokensPerRequest: 0,
			checkpoint: cp,
		});
		let settled = false;
		void done.finally(() => (settled = true));
		while (!settled) {
			await new Promise((r) => setTimeout(r, 1));
			await clock.advance(500);
		}
		const { outcomes, stats } = await done;
		// The group was sent once (the 500); its retry was not sent, each record went alone, once.
		expect(requests.length).toBe(4);
		expect(requests[0].prompt.match(/<record id=/g)?.length).toBe(3);
		expect(requests.slice(1).map((q) => q.prompt)).toEqual(list.map((i) => i.request.prompt));
		expect(stats.groups).toBe(1);
		expect(stats.answered).toBe(0);
		expect(outcomes.map((o) => (o.ok ? o.result.recordId : o.error.code))).toEqual([
			'R0',
			'R1',
			'R2',
		]);
		expect(runner.stats).toMatchObject({ total: 3, done: 3, succeeded: 3, failed: 0 });
		expect(r0Claims).toBe(3);
	});
});
