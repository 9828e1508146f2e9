/**
 * A Collect in a child process that dies (SIGKILL) in the middle of publishing: once the
 * first batch's records are committed to the ledger and the second batch's first record is
 * decided — after a commit, before the node could hand any item on.
 *
 * env COLLECT_CRASH_CHILD: JSON { sandboxUrl, provider, ledger (StoreConfig), job, now }
 * stdout: `outcome <n>` per record decided, then it dies.
 */
import { collectJob } from '../../core/batch-api';
import type { StoreConfig } from '../../core/ledger/types';
import type { ProviderName } from '../../core/types';
import { collectOptions, fakeClock, jobContext, openLedger } from './collect-fixtures';

async function main(): Promise<void> {
	const o = JSON.parse(process.env.COLLECT_CRASH_CHILD ?? '{}') as {
		sandboxUrl: string;
		provider: ProviderName;
		ledger: StoreConfig;
		job: string;
		now: number;
	};
	fakeClock.t = o.now;
	const store = await openLedger(o.ledger);
	const ctx = jobContext({ url: o.sandboxUrl } as never, o.provider, store, o.job);
	let first: string | undefined;
	let n = 0;
	await collectJob(ctx, {
		...collectOptions(ctx),
		onOutcome: (outcome) => {
			first ??= outcome.entry.batchId;
			process.stdout.write(`outcome ${++n}\n`);
			if (outcome.entry.batchId !== first) process.kill(process.pid, 'SIGKILL');
		},
	});
	process.stdout.write('finished without dying\n');
}

void main();
