/**
 * Submit resends a failed record only when it is retryable and under the same submission
 * limit as Resubmit: a nightly workflow run again after some records failed sends the
 * retryable failures (server error) again until the limit, and never the refusals
 * (content_filter) or invalid requests, which leave the skipped item with their reason.
 * SQLite and PostgreSQL, OpenAI and Anthropic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeAllStores } from '../../core/ledger';
import { startSandbox, type Sandbox } from '../../sandbox/server';
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

let t = Date.now();
let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => t, batch: { processingMs: 60_000 } });
});
afterAll(async () => {
	await sandbox?.close();
	await closeAllStores();
});

/** 10 records: 4 answered, 2 refused (content policy), 2 invalid, 2 server errors. */
const input = tickets(10, 'row', (i) =>
	i <= 4
		? `Ticket ${i}`
		: i <= 6
			? `Ticket ${i} [[sandbox:contentPolicy]]`
			: i <= 8
				? `Ticket ${i} [[sandbox:status400]]`
				: `Ticket ${i} [[sandbox:status500]]`,
);

describe.each(['sqlite', 'postgres'] as const)(
	'the nightly workflow run again (%s)',
	(kind: Kind) => {
		it.each(['openai', 'anthropic', 'gemini'] as const)(
			'%s: only retryable failures are sent again, up to 3 submissions; the others are skipped with their reason',
			async (provider: P) => {
				sandbox.batch.reset();
				const ledger = await freshLedger(kind, `resend-${provider}`);
				const credentials = credentialsFor(sandbox.url, ledger);
				const submit = jobWorkflow(provider, ledger, 'nightly', submitParams(provider));
				const collect = jobWorkflow(provider, ledger, 'nightly', { operation: 'collect' });
				const sent: number[] = [];
				let last;
				for (let night = 1; night <= 4; night++) {
					const before = sandbox.batch.stats().requestsReceived;
					last = await runWorkflow(submit, { input, credentials });
					expect(last.run.status).toBe('success');
					sent.push(sandbox.batch.stats().requestsReceived - before);
					t += 60_000;
					const got = await runWorkflow(collect, { credentials });
					expect(got.run.status).toBe('success');
				}
				const paid = paidPerRecord(sandbox);
				console.log(
					`[resend ${kind} ${provider}] requests per night ${JSON.stringify(sent)}; per record ${JSON.stringify(Object.fromEntries(paid))}`,
				);
				expect(sent).toEqual([10, 2, 2, 0]);
				expect(Object.fromEntries(paid)).toEqual({
					'row-1': 1,
					'row-2': 1,
					'row-3': 1,
					'row-4': 1,
					'row-5': 1,
					'row-6': 1,
					'row-7': 1,
					'row-8': 1,
					'row-9': 3,
					'row-10': 3,
				});
				// The last night: nothing sent; every item leaves once, the skipped with their reason.
				const out = last!.items('LLM Batch Job', 0);
				expect(out).toHaveLength(1);
				expect(out[0].json).toMatchObject({
					batchId: null,
					skipped: 10,
					alreadySucceeded: 4,
					notRetryable: 4,
					overLimit: 2,
				});
				expect(
					(out[0].pairedItem as Array<{ item: number }>).map((p) => p.item).sort((a, b) => a - b),
				).toEqual([...Array(10).keys()]);
				expect(JSON.stringify(last!.hints)).toMatch(/content_filter/);
			},
		);
	},
);
