/**
 * The promises hold for grouped batch requests (LLM Batch Job, Records per Request): two
 * Submits of one job at once claim before they upload, so no record is sent in two requests
 * (grouped or alone); Collect emits every record once, on Success with its own answer, paired
 * with its own input item; two Collects at once publish each record once between them. SQLite
 * and PostgreSQL, OpenAI and Anthropic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow } from '../helpers/harness';
import {
	credentialsFor,
	faultProxy,
	freshLedger,
	isCreate,
	jobWorkflow,
	recordOf,
	submitParams,
	tickets,
	type Kind,
	type P,
} from './submit-helpers';

const RECORDS = 47;
let t = Date.now();
let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

/** How many times each record was sent: alone (its own custom_id) or inside a grouped request. */
function sentPerRecord(): Map<string, number> {
	const st = sandbox.batch.stats();
	const out = new Map(st.groupedRecords);
	for (const [customId, n] of st.received) {
		const id = recordOf(customId);
		if (/^g\d+_/.test(id)) continue;
		out.set(id, (out.get(id) ?? 0) + n);
	}
	return out;
}

describe.each(['sqlite', 'postgres'] as const)('grouped batch requests (%s)', (kind: Kind) => {
	it.each(['openai', 'anthropic'] as const)(
		'%s: two Submits at once send each record once, in groups of 5; two Collects at once emit each once with its own answer',
		async (provider: P) => {
			sandbox.batch.reset();
			const ledger = await freshLedger(kind, `grouped-${provider}`);
			const credentials = credentialsFor(sandbox.url, ledger);
			const input = tickets(RECORDS);
			const submit = jobWorkflow(
				provider,
				ledger,
				'grouped',
				submitParams(provider, { options: { recordsPerRequest: 5 } }),
			);
			const [a, b] = await Promise.all([
				runWorkflow(submit, { input, credentials }),
				runWorkflow(submit, { input, credentials }),
			]);
			expect([a.run.status, b.run.status]).toEqual(['success', 'success']);
			const sent = sentPerRecord();
			expect({ records: sent.size, twice: [...sent.values()].filter((n) => n > 1).length }).toEqual(
				{ records: RECORDS, twice: 0 },
			);
			// 47 records at 5 per request: 10 request lines (the last carries 2), however the
			// two executions split them.
			expect(sandbox.batch.stats().requestsReceived).toBeLessThanOrEqual(11);
			expect(sandbox.batch.stats().groupedRecords.size).toBeGreaterThanOrEqual(RECORDS - 2);
			for (const r of [a, b]) {
				const paired = r
					.items('LLM Batch Job', 0)
					.flatMap((o) => (o.pairedItem as Array<{ item: number }>).map((p) => p.item));
				expect(paired.sort((x, y) => x - y)).toEqual([...Array(RECORDS).keys()]);
			}

			t += 60_000;
			const collect = jobWorkflow(provider, ledger, 'grouped', { operation: 'collect' });
			const [c1, c2] = await Promise.all([
				runWorkflow(collect, { credentials }),
				runWorkflow(collect, { credentials }),
			]);
			const ok = [...c1.items('LLM Batch Job', 0), ...c2.items('LLM Batch Job', 0)];
			expect([...c1.items('LLM Batch Job', 1), ...c2.items('LLM Batch Job', 1)]).toEqual([]);
			expect(ok.map((o) => o.json.id).sort()).toEqual(input.map((i) => i.json.id).sort());
			for (const o of ok) {
				const llm = o.json.llm as { text: string; recordId: string; groupSize?: number };
				expect(llm.recordId).toBe(o.json.id);
				expect(llm.text).toBe(expectedReply({ prompt: String(o.json.text) }).text);
			}
			expect(ok.filter((o) => (o.json.llm as { groupSize?: number }).groupSize! > 1).length).toBe(
				sandbox.batch.stats().groupedRecords.size,
			);
		},
	);
});

describe.each(['sqlite', 'postgres'] as const)(
	'a grouped submission whose create answer was lost (%s)',
	(kind: Kind) => {
		it.each(['openai', 'anthropic'] as const)(
			'%s: found by its nonce among batches of its request count (3 requests for 9 records), collected once; a re-Submit sends nothing',
			async (provider: P) => {
				sandbox.batch.reset();
				let creates = 0;
				const proxy = await faultProxy(sandbox.url, (method, path) =>
					isCreate(provider, method, path) && creates++ === 0 ? 'swallow' : 'pass',
				);
				try {
					const ledger = await freshLedger(kind, `grouped-lost-${provider}`);
					const input = tickets(9);
					const params = submitParams(provider, { options: { recordsPerRequest: 3 } });
					const lost = await runWorkflow(jobWorkflow(provider, ledger, 'lost', params), {
						input,
						credentials: credentialsFor(proxy.url, ledger),
					});
					expect(lost.run.status).toBe('error');
					expect(sandbox.batch.stats().requestsReceived).toBe(3);

					const direct = credentialsFor(sandbox.url, ledger);
					t += 60_000;
					const again = await runWorkflow(jobWorkflow(provider, ledger, 'lost', params), {
						input,
						credentials: direct,
					});
					expect(again.run.status).toBe('success');
					const collect = await runWorkflow(
						jobWorkflow(provider, ledger, 'lost', { operation: 'collect' }),
						{ credentials: direct },
					);
					expect(sandbox.batch.stats().requestsReceived).toBe(3);
					const ok = collect.items('LLM Batch Job', 0);
					expect(collect.items('LLM Batch Job', 1)).toEqual([]);
					expect(ok.map((o) => o.json.id).sort()).toEqual(input.map((i) => i.json.id).sort());
				} finally {
					await proxy.close();
				}
			},
		);
	},
);
