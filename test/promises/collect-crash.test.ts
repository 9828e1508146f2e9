/**
 * Publishing a batch's results survives kill -9: a Collect that dies after committing one
 * batch's records and before its items left the node has published nothing, so the next
 * Collect emits every record (none lost, none twice) — SQLite and PostgreSQL, both providers.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { collectJob } from '../../core/batch-api';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import {
	LEDGERS,
	PROVIDERS,
	collectOptions,
	fakeClock,
	jobContext,
	newLedger,
	openLedger,
	submit,
	textRecords,
} from './collect-fixtures';

const ROOT = resolve(__dirname, '../..');
let sandbox: Sandbox;
let child: string;

beforeAll(async () => {
	sandbox = await startSandbox({ now: () => fakeClock.t, batch: { processingMs: 100_000 } });
	child = join(mkdtempSync(join(tmpdir(), 'collect-crash-')), 'child.cjs');
	execFileSync(
		join(ROOT, 'node_modules/.bin/esbuild'),
		[
			join(ROOT, 'test/promises/collect-crash.child.ts'),
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

describe.each(PROVIDERS)('kill -9 inside Collect: %s', (provider) => {
	it.each(LEDGERS)('%s: the next Collect emits every record once, none lost', async (kind) => {
		const ledger = await newLedger(kind);
		const store = await openLedger(ledger);
		const job = `crash-${provider}-${kind}`;
		const ctx = jobContext(sandbox, provider, store, job);
		await submit(ctx, textRecords(provider, 50), 25);
		fakeClock.t += 100_000;

		const proc = spawn(process.execPath, [child], {
			cwd: ROOT,
			env: {
				...process.env,
				NODE_PATH: join(ROOT, 'node_modules'),
				COLLECT_CRASH_CHILD: JSON.stringify({
					sandboxUrl: sandbox.url,
					provider,
					ledger,
					job,
					now: fakeClock.t,
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
		expect(out).toContain('outcome 26');

		const after = await collectJob(ctx, collectOptions(ctx));
		const ids = after.outcomes.map((o) => o.entry.recordId);
		console.log(
			`[collect kill -9 ${provider} ${kind}] the Collect after the crash emitted ${ids.length} of 50 (${new Set(ids).size} distinct)`,
		);
		expect({ emitted: ids.length, distinct: new Set(ids).size }).toEqual({
			emitted: 50,
			distinct: 50,
		});
		const again = await collectJob(ctx, collectOptions(ctx));
		expect(again.outcomes).toEqual([]);
		await store.close();
	});
});
