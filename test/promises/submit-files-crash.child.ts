/**
 * A Submit of invoice records with their PDFs in a child process that dies (SIGKILL) once the
 * ledger holds its intent with the records' files: `before-create` before the provider is
 * asked to create the batch, `after-create` once it has created it (before the ledger heard).
 *
 * env SUBMIT_FILES_CHILD: JSON { sandboxUrl, provider, ledger (StoreConfig), job, now, when, ns }
 * stdout: `stored` when the provider call starts, then it dies.
 */
import { submitRecords, PROVIDER_CAPS, type BatchApi } from '../../core/batch-api';
import type { StoreConfig } from '../../core/ledger/types';
import type { ProviderName } from '../../core/types';
import { MODEL, fakeClock, jobContext, openLedger } from './collect-fixtures';
import { pdfRecords } from './files-fixtures';

async function main(): Promise<void> {
	const o = JSON.parse(process.env.SUBMIT_FILES_CHILD ?? '{}') as {
		sandboxUrl: string;
		provider: ProviderName;
		ledger: StoreConfig;
		job: string;
		now: number;
		when: 'before-create' | 'after-create';
		ns: number[];
	};
	fakeClock.t = o.now;
	const store = await openLedger(o.ledger);
	const ctx = jobContext({ url: o.sandboxUrl } as never, o.provider, store, o.job);
	const real = ctx.api;
	const api: BatchApi = Object.assign(Object.create(real) as BatchApi, {
		create: async (...args: Parameters<BatchApi['create']>) => {
			process.stdout.write('stored\n');
			if (o.when === 'before-create') process.kill(process.pid, 'SIGKILL');
			await real.create(...args);
			process.kill(process.pid, 'SIGKILL');
			return new Promise<never>(() => undefined);
		},
	});
	await submitRecords({ ...ctx, api }, pdfRecords(o.provider, o.ns), {
		caps: PROVIDER_CAPS[o.provider],
		model: MODEL[o.provider],
	});
	process.stdout.write('finished without dying\n');
}

void main();
