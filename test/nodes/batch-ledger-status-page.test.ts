/**
 * Batch Ledger → Job Status with Format = HTML Page and Alerts: the status page in `html`
 * beside the status, and the watchdog's alerts in `alerts`, from the same reading.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NodeOperationError } from 'n8n-workflow';
import { afterAll, describe, expect, it } from 'vitest';

import { closeAllStores, openStore } from '../../core/ledger';
import type { LedgerWrite } from '../../core/ledger/types';
import { renderStatusPage } from '../../core/status/page';
import type { PresentedStatus } from '../../core/status/present';
import { router } from '../../nodes/BatchLedger/actions/router';
import { itemError, result } from '../core/ledger/fixtures';
import { mockExecute } from '../helpers/mock-execute';

const T0 = Date.parse('2026-12-06T10:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const MINUTE = 60_000;

afterAll(async () => {
	await closeAllStores();
});

/** A job of 20 records: 12 succeeded, 4 failed schema_violation, 4 still pending, last write at 10:05. */
async function ledger(): Promise<string> {
	const path = join(mkdtempSync(join(tmpdir(), 'status-page-')), 'ledger.sqlite');
	const store = openStore({ kind: 'sqlite', path });
	await store.init();
	const writes: LedgerWrite[] = [];
	for (let i = 0; i < 20; i++) {
		const at = iso(i < 16 ? 5 * MINUTE : 0);
		if (i < 12) writes.push({ type: 'succeeded', result: result(`r${i}`, `h${i}`), at });
		else if (i < 16)
			writes.push({
				type: 'failed',
				recordId: `r${i}`,
				promptHash: `h${i}`,
				error: itemError('schema_violation', 1),
				at,
			});
		else writes.push({ type: 'pending', recordId: `r${i}`, at });
	}
	await store.writeBatch('tickets', writes);
	return path;
}

async function jobStatus(path: string, parameters: Record<string, unknown>, now: number) {
	const m = mockExecute({
		parameters: {
			operation: 'jobStatus',
			ledgerStore: 'sqlite',
			ledgerSqlitePath: path,
			ledgerJob: 'tickets',
			stallMinutes: 10,
			...parameters,
		},
	});
	const out = await router(m.fns, { now: () => now });
	expect(out).toHaveLength(1);
	expect(out[0]).toHaveLength(1);
	expect(out[0][0].pairedItem).toEqual({ item: 0 });
	return out[0][0].json as unknown as PresentedStatus;
}

describe('Batch Ledger Job Status: page and alerts', () => {
	it('answers the status alone by default (no html, no alerts)', async () => {
		const status = await jobStatus(await ledger(), {}, T0 + 6 * MINUTE);
		expect(status).toMatchObject({ job: 'tickets', total: 20, done: 16, succeeded: 12 });
		expect(status).not.toHaveProperty('html');
		expect(status).not.toHaveProperty('alerts');
	});

	it('adds the status page of the same reading for Format = HTML Page', async () => {
		const status = await jobStatus(
			await ledger(),
			{ format: 'html', refreshSeconds: 5 },
			T0 + 6 * MINUTE,
		);
		const { html, ...rest } = status;
		expect(html).toBe(renderStatusPage(rest, { refreshSeconds: 5 }));
		expect(html).toContain('data-field="done">16<');
		expect(html).toContain('data-field="total">20<');
		expect(html).toContain('>schema_violation<');
	});

	it('alerts on the success rate, and on a job with records left that nobody moves', async () => {
		const path = await ledger();
		const early = await jobStatus(
			path,
			{ alerts: { minSuccessRatePct: 95, minDone: 10 } },
			T0 + 6 * MINUTE,
		);
		expect(early.alerts?.map((a) => a.rule)).toEqual(['minSuccessRate']);
		expect(early.alerts?.[0].message).toBe(
			'Job tickets: success rate 75.0 % is below 95.0 % after 16 items; most failures: schema_violation (4)',
		);

		// No execution works on the 4 pending records (no heartbeat): the status reads stalled.
		const alerts = { minSuccessRatePct: 95, minDone: 10, alertWhenStalled: true };
		const late = await jobStatus(path, { alerts }, T0 + 16 * MINUTE);
		expect(late.state).toBe('stalled');
		expect(late.alerts?.map((a) => a.rule)).toEqual(['minSuccessRate', 'stalled']);
		expect(late.alerts?.[1]).toMatchObject({
			job: 'tickets',
			lastProgressAt: iso(5 * MINUTE),
			message:
				'Job tickets: no progress for 11m 0s (last progress 2026-12-06 10:05:00 UTC; 16 of 20 done)',
		});
	});

	it('answers an empty alert list when every rule holds', async () => {
		const status = await jobStatus(
			await ledger(),
			{ alerts: { minSuccessRatePct: 50, slowdownFactor: 2, alertWhenStalled: false } },
			T0 + 6 * MINUTE,
		);
		expect(status.alerts).toEqual([]);
	});

	it('rejects alert rules out of range before reading the ledger', async () => {
		const path = await ledger();
		await expect(
			jobStatus(path, { alerts: { minSuccessRatePct: 150 } }, T0),
		).rejects.toBeInstanceOf(NodeOperationError);
		await expect(jobStatus(path, { alerts: { slowdownFactor: 1 } }, T0)).rejects.toThrow(
			'Time per Item Factor must be above 1',
		);
	});
});
