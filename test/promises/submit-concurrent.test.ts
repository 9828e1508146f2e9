/**
 * Claim before spend, for LLM Batch Job's Submit: two Submits of one job started together
 * (two in-process executions, one ledger) split the records or the second skips them — no
 * record is ever in two batches — on SQLite and PostgreSQL, OpenAI and Anthropic, several
 * times over. Then one Collect publishes every record once, with its own answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { runWorkflow } from '../helpers/harness';
import {
	credentialsFor,
	freshLedger,
	jobWorkflow,
	paidPerRecord,
	submitParams,
	tickets,
	type Kind,
	type P,
} from './submit-helpers';

const RECORDS = 50;
const RUNS = 3;
let t = Date.now();
let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

describe.each(['sqlite', 'postgres'] as const)(
	'two Submits of one job at once (%s)',
	(kind: Kind) => {
		it.each([
			['openai', 0],
			['anthropic', 0],
			['gemini', 0],
			['openai', 10],
			['anthropic', 10],
			['gemini', 10],
		] as const)(
			'%s, Batch Size %i: every record in exactly one batch, each published once by Collect',
			async (provider: P, batchSize: number) => {
				for (let run = 0; run < RUNS; run++) {
					sandbox.batch.reset();
					const ledger = await freshLedger(kind, `submit-twice-${provider}-${run}`);
					const credentials = credentialsFor(sandbox.url, ledger);
					const input = tickets(RECORDS);
					const submit = jobWorkflow(
						provider,
						ledger,
						'twice',
						submitParams(provider, { options: { batchSize } }),
					);
					const [a, b] = await Promise.all([
						runWorkflow(submit, { input, credentials }),
						runWorkflow(submit, { input, credentials }),
					]);
					expect([a.run.status, b.run.status]).toEqual(['success', 'success']);
					const paid = paidPerRecord(sandbox);
					const twice = [...paid.values()].filter((n) => n > 1).length;
					console.log(
						`[submit twice ${kind} ${provider} size ${batchSize} run ${run + 1}] batches ${sandbox.batch.stats().batchesCreated[provider]}, requests ${sandbox.batch.stats().requestsReceived}, records paid twice ${twice}; batches by execution ${[a, b].map((r) => r.items('LLM Batch Job', 0).filter((o) => o.json.batchId !== null).length).join(' + ')}`,
					);
					expect({ records: paid.size, paidTwice: twice }).toEqual({
						records: RECORDS,
						paidTwice: 0,
					});
					expect(sandbox.batch.stats().requestsReceived).toBe(RECORDS);
					// Every input item leaves each execution once: in a batch item or the skipped item.
					for (const r of [a, b]) {
						const out = r.items('LLM Batch Job', 0);
						const paired = out.flatMap((o) =>
							(o.pairedItem as Array<{ item: number }>).map((p) => p.item),
						);
						expect(paired.sort((x, y) => x - y)).toEqual([...Array(RECORDS).keys()]);
						expect(r.items('LLM Batch Job', 1)).toEqual([]);
					}

					t += 60_000;
					const collect = await runWorkflow(
						jobWorkflow(provider, ledger, 'twice', { operation: 'collect' }),
						{ credentials },
					);
					const ok = collect.items('LLM Batch Job', 0);
					expect(collect.items('LLM Batch Job', 1)).toEqual([]);
					expect(ok.map((o) => o.json.id).sort()).toEqual(input.map((i) => i.json.id).sort());
					for (const o of ok)
						expect((o.json.llm as { text: string }).text).toBe(
							expectedReply({ prompt: String(o.json.text) }).text,
						);
				}
			},
		);
	},
);
