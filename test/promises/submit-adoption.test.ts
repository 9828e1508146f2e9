/**
 * A batch is adopted only when it is provably ours. This job's batch create goes wrong — the
 * provider refuses it (429), the request never arrives, or the batch is created but its
 * answer is lost — while another workflow, with its own ledger, submits the same record IDs
 * (row-1…row-9) with other prompts: a batch of the same size in the same minutes. Check Status
 * and Collect of this job then publish 0 answers of the other workflow; a batch of ours whose
 * create answer was lost is found by its submission nonce and collected once. SQLite and
 * PostgreSQL, OpenAI and Anthropic.
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
	paidPerRecord,
	submitParams,
	tickets,
	tooManyRequests,
	type Kind,
	type P,
} from './submit-helpers';

const RECORDS = 9;
let t = Date.now();
let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

const ours = tickets(RECORDS, 'row', (i) => `Our ticket ${i}: the invoice is wrong`);
const theirs = tickets(RECORDS, 'row', (i) => `Their ticket ${i}: the parcel is late`);

type Fault = '429' | 'drop' | 'swallow';

describe.each(['sqlite', 'postgres'] as const)(
	"a stranger's batch of the same size (%s)",
	(kind: Kind) => {
		describe.each(['openai', 'anthropic', 'gemini'] as const)('%s', (provider: P) => {
			it.each(['429', 'drop', 'swallow'] as const)(
				"this job's create: %s; Check Status and Collect publish none of the other workflow's answers",
				async (fault: Fault) => {
					sandbox.batch.reset();
					t = Date.now();
					let creates = 0;
					const proxy = await faultProxy(sandbox.url, (method, path) => {
						if (!isCreate(provider, method, path) || creates++ > 0) return 'pass';
						return fault === '429' ? tooManyRequests(provider) : fault;
					});
					try {
						const mine = await freshLedger(kind, `adopt-mine-${provider}-${fault}`);
						const other = await freshLedger(kind, `adopt-other-${provider}-${fault}`);
						const viaProxy = credentialsFor(proxy.url, mine);
						const direct = credentialsFor(sandbox.url, mine);
						const submitted = await runWorkflow(
							jobWorkflow(provider, mine, 'nightly', submitParams(provider)),
							{ input: ours, credentials: viaProxy },
						);
						expect(submitted.run.status).toBe('error');

						// Another workflow, its own ledger: the same record IDs, other prompts, same size.
						const stranger = await runWorkflow(
							jobWorkflow(provider, other, 'nightly', submitParams(provider)),
							{ input: theirs, credentials: credentialsFor(sandbox.url, other) },
						);
						expect(stranger.items('LLM Batch Job', 0)[0].json.requestCount).toBe(RECORDS);

						t += 60_000;
						const status = await runWorkflow(
							jobWorkflow(provider, mine, 'nightly', { operation: 'status' }),
							{ credentials: direct },
						);
						expect(status.run.status).toBe('success');
						const collect = await runWorkflow(
							jobWorkflow(provider, mine, 'nightly', { operation: 'collect' }),
							{ credentials: direct },
						);
						const published = [
							...collect.items('LLM Batch Job', 0),
							...collect.items('LLM Batch Job', 1),
						];
						const foreign = published.filter(
							(o) =>
								(o.json.llm as { text?: string } | undefined)?.text ===
								expectedReply({
									prompt: String(theirs[Number(String(o.json.id).slice(4)) - 1].json.text),
								}).text,
						);
						const own = collect
							.items('LLM Batch Job', 0)
							.filter(
								(o) =>
									(o.json.llm as { text: string }).text ===
									expectedReply({ prompt: String(o.json.text) }).text,
							);
						console.log(
							`[adoption ${kind} ${provider} ${fault}] published ${published.length}: ${foreign.length} of the other workflow's answers, ${own.length} own`,
						);
						expect(foreign).toHaveLength(0);
						// The batch that was created though its answer was lost is ours: found by its nonce.
						expect(own).toHaveLength(fault === 'swallow' ? RECORDS : 0);
						expect(published).toHaveLength(fault === 'swallow' ? RECORDS : 0);
					} finally {
						await proxy.close();
					}
				},
			);
		});
	},
);

describe.each(['sqlite', 'postgres'] as const)(
	'OpenAI created the batch, then answered 500 (%s)',
	(kind: Kind) => {
		it('the batch carrying the nonce is recorded at once: a re-Submit sends nothing, Collect publishes each record once', async () => {
			sandbox.batch.reset();
			t = Date.now();
			let hit = 0;
			const proxy = await faultProxy(sandbox.url, (method, path) =>
				isCreate('openai', method, path) && hit++ === 0 ? 'done-then-500' : 'pass',
			);
			try {
				const ledger = await freshLedger(kind, 'created-500');
				const credentials = credentialsFor(proxy.url, ledger);
				const submit = jobWorkflow('openai', ledger, 'created-500', submitParams('openai'));
				const first = await runWorkflow(submit, { input: ours, credentials });
				expect(first.run.status).toBe('success');
				expect(first.items('LLM Batch Job', 0).map((o) => o.json.requestCount)).toEqual([RECORDS]);
				const again = await runWorkflow(submit, { input: ours, credentials });
				expect(again.items('LLM Batch Job', 0).map((o) => o.json.inLiveBatch)).toEqual([RECORDS]);
				expect([...paidPerRecord(sandbox).values()]).toEqual(Array(RECORDS).fill(1));
				t += 60_000;
				const collect = await runWorkflow(
					jobWorkflow('openai', ledger, 'created-500', { operation: 'collect' }),
					{ credentials },
				);
				expect(collect.items('LLM Batch Job', 0)).toHaveLength(RECORDS);
			} finally {
				await proxy.close();
			}
		});
	},
);

describe.each(['sqlite', 'postgres'] as const)(
	'a create the provider refused frees its records at once (%s)',
	(kind: Kind) => {
		const faults = (provider: P) =>
			provider === 'openai'
				? (['create 429', 'upload 500', 'create 500'] as const)
				: (['create 429', 'create 500'] as const);
		describe.each(['openai', 'anthropic', 'gemini'] as const)('%s', (provider: P) => {
			it.each(faults(provider))(
				'%s: an immediate re-Submit sends every record once; Check Status shows its batch',
				async (fault) => {
					sandbox.batch.reset();
					t = Date.now();
					let hit = 0;
					const proxy = await faultProxy(sandbox.url, (method, path) => {
						const upload = method === 'POST' && path.split('?')[0] === '/v1/files';
						const target = fault.startsWith('upload') ? upload : isCreate(provider, method, path);
						if (!target || hit++ > 0) return 'pass';
						return fault.endsWith('429')
							? tooManyRequests(provider)
							: {
									status: 500,
									body:
										provider === 'openai'
											? { error: { message: 'The server had an error', type: 'server_error' } }
											: provider === 'gemini'
												? {
														error: {
															code: 500,
															message: 'Internal error encountered.',
															status: 'INTERNAL',
														},
													}
												: {
														type: 'error',
														error: { type: 'api_error', message: 'Internal server error' },
													},
								};
					});
					try {
						const ledger = await freshLedger(kind, `refused-${provider}-${fault.replace(' ', '')}`);
						const credentials = credentialsFor(proxy.url, ledger);
						const submit = jobWorkflow(provider, ledger, 'refused', submitParams(provider));
						const first = await runWorkflow(submit, { input: ours, credentials });
						expect(first.run.status).toBe('error');
						const again = await runWorkflow(submit, { input: ours, credentials });
						expect(again.run.status).toBe('success');
						const out = again.items('LLM Batch Job', 0);
						console.log(
							`[refused ${kind} ${provider} ${fault}] re-Submit: ${JSON.stringify(out.map((o) => ({ batch: o.json.batchId === null ? null : 'batch', requests: o.json.requestCount, skipped: o.json.skipped })))}`,
						);
						expect(out.map((o) => o.json.requestCount)).toEqual([RECORDS]);
						const paid = paidPerRecord(sandbox);
						expect([...paid.values()]).toEqual(Array(RECORDS).fill(1));
						const status = await runWorkflow(
							jobWorkflow(provider, ledger, 'refused', { operation: 'status' }),
							{ credentials },
						);
						expect(status.items('LLM Batch Job', 0)[0].json.batches).toBe(1);
					} finally {
						await proxy.close();
					}
				},
			);
		});
	},
);
