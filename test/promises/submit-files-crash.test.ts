/**
 * A record's files are written in the same transaction as its payload: a Submit killed (-9)
 * between storing its intent and the provider's answer never leaves a record in the ledger
 * whose files are missing. Killed before the create, the next Submit sends the records (with
 * their files); killed after it, the next Collect adopts the batch and gives every record its
 * file from the ledger alone — SQLite and PostgreSQL, the three providers.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { collectJob, submitRecords, PROVIDER_CAPS } from '../../core/batch-api';
import { sha256Of } from '../../core/batch-api/files';
import type { StoreConfig } from '../../core/ledger/types';
import type { ProviderName } from '../../core/types';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { invoicePdf } from '../helpers/pdf';
import {
	LEDGERS,
	MODEL,
	PROVIDERS,
	collectOptions,
	fakeClock,
	jobContext,
	newLedger,
	openLedger,
} from './collect-fixtures';
import { filesSink, pdfRecords } from './files-fixtures';

const ROOT = resolve(__dirname, '../..');
const NS = [11, 12, 13];
let sandbox: Sandbox;
let child: string;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => fakeClock.t, batch: { processingMs: 100_000 } });
	child = join(mkdtempSync(join(tmpdir(), 'submit-files-crash-')), 'child.cjs');
	execFileSync(
		join(ROOT, 'node_modules/.bin/esbuild'),
		[
			join(ROOT, 'test/promises/submit-files-crash.child.ts'),
			'--bundle',
			'--platform=node',
			'--format=cjs',
			'--packages=external',
			'--log-level=warning',
			`--outfile=${child}`,
		],
		{ cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
	);
});
afterAll(async () => sandbox?.close());

/** Runs the Submit child until it kills itself; returns what it printed. */
async function killedSubmit(
	provider: ProviderName,
	ledger: StoreConfig,
	job: string,
	when: 'before-create' | 'after-create',
): Promise<string> {
	const proc = spawn(process.execPath, [child], {
		cwd: ROOT,
		env: {
			...process.env,
			NODE_PATH: join(ROOT, 'node_modules'),
			SUBMIT_FILES_CHILD: JSON.stringify({
				sandboxUrl: sandbox.url,
				provider,
				ledger,
				job,
				now: fakeClock.t,
				when,
				ns: NS,
			}),
		},
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let out = '';
	let err = '';
	proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
	proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
	const signal = await new Promise<NodeJS.Signals | null>((res) =>
		proc.on('exit', (_c, s) => res(s)),
	);
	expect({ signal, err }).toEqual({ signal: 'SIGKILL', err: '' });
	return out;
}

const pdfOf = (recordId: string) => invoicePdf(Number(recordId.slice(4))).pdf;

describe.each(PROVIDERS)('kill -9 inside a Submit with files: %s', (provider) => {
	describe.each(LEDGERS)('%s', (kind) => {
		it.each(['before-create', 'after-create'] as const)(
			'killed %s: every record in the ledger has its file; Collect in another execution gives each its own',
			async (when) => {
				const ledger = await newLedger(kind);
				const job = `files-crash-${provider}-${when}`;
				const out = await killedSubmit(provider, ledger, job, when);
				expect(out).toBe('stored\n');

				// What the dead Submit left: each record's entry and its file, together.
				const store = await openLedger(ledger);
				const ctx = jobContext(sandbox, provider, store, job);
				const ids = NS.map((n) => `inv-${n}`);
				const entries = await ctx.batches.entries(job, ids);
				const files = await ctx.batches.recordFiles(job, ids);
				expect([...entries.keys()].sort()).toEqual(ids);
				for (const id of ids) {
					const [data] = files.get(id) ?? [];
					expect(data).toMatchObject({ property: 'data', sha256: sha256Of(pdfOf(id)) });
					expect(await ctx.batches.fileBytes(data.sha256!)).toEqual(pdfOf(id));
				}

				if (when === 'before-create') {
					// The next Submit (the items again) finds no batch of the dead one's and sends them.
					const again = await submitRecords(ctx, pdfRecords(provider, NS), {
						caps: PROVIDER_CAPS[provider],
						model: MODEL[provider],
					});
					expect(again.created.map((b) => b.requestCount)).toEqual([3]);
				}
				fakeClock.t += 200_000;
				const { sink, want, back } = filesSink();
				const res = await collectJob(ctx, {
					...collectOptions(ctx),
					onOutcome: (o) => {
						expect(o.ok).toBe(true);
						want(o.entry.recordId);
					},
					files: sink,
				});
				expect(res.unadopted).toEqual([]);
				expect(
					[...back.values()]
						.map((r) => ({
							recordId: r.recordId,
							files: r.files.map((f) => [
								f.property,
								f.fileName,
								f.bytes.equals(pdfOf(r.recordId)),
							]),
							notKept: r.notKept,
						}))
						.sort((a, b) => a.recordId.localeCompare(b.recordId)),
				).toEqual(
					ids.map((recordId) => ({
						recordId,
						files: [['data', `${recordId}.pdf`, true]],
						notKept: [],
					})),
				);
				await store.close();
			},
		);
	});
});
