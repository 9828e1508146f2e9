/**
 * What the Collect promise tests share: a job context per provider and ledger kind (SQLite
 * file or a fresh PostgreSQL database) over the sandbox's batch APIs on a fake clock, records
 * built by the same input policy as the nodes, and Collect options.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
	PROVIDER_CAPS,
	createBatchApi,
	submitRecords,
	type JobContext,
	type PreparedRecord,
} from '../../core/batch-api';
import { inputPolicy, isItemError } from '../../core/call/input';
import { costUsd } from '../../core/cost';
import { createCheckpoint } from '../../core/ledger';
import { batchStoreFor } from '../../core/batch-api/store/factory';
import { PostgresLedgerStore } from '../../core/ledger/postgres';
import { SqliteLedgerStore } from '../../core/ledger/sqlite';
import type { LedgerStore, StoreConfig } from '../../core/ledger/types';
import type { ProviderName } from '../../core/types';
import type { Sandbox } from '../../sandbox/server';
import { createTestDatabase } from '../helpers/postgres';

export type LedgerKind = 'sqlite' | 'postgres';
export const PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export const LEDGERS = ['sqlite', 'postgres'] as const;

export const MODEL: Record<ProviderName, string> = {
	openai: 'gpt-4o-mini',
	anthropic: 'claude-3-5-haiku-latest',
	gemini: 'gemini-2.5-flash',
};

export const fakeClock = { t: 1_700_000_000_000, now: () => fakeClock.t };

/** A fresh ledger of this kind: the config, so several stores (executions) can open it. */
export async function newLedger(kind: LedgerKind): Promise<StoreConfig> {
	if (kind === 'sqlite')
		return { kind, path: join(mkdtempSync(join(tmpdir(), 'collect-promise-')), 'ledger.sqlite') };
	const db = await createTestDatabase('collect');
	return {
		kind,
		host: db.host,
		port: db.port,
		database: db.database,
		user: db.user,
		password: db.password,
	};
}

/** A store of its own on the ledger (as another n8n execution or instance opens it). */
export async function openLedger(config: StoreConfig): Promise<LedgerStore> {
	const store =
		config.kind === 'sqlite'
			? new SqliteLedgerStore({ ...config, path: config.path ?? '' })
			: new PostgresLedgerStore(config);
	await store.init();
	return store;
}

export function jobContext(
	sandbox: Sandbox,
	provider: ProviderName,
	store: LedgerStore,
	job: string,
	fetchImpl?: typeof fetch,
): JobContext {
	const creds = {
		apiKey: 'sk-test',
		baseUrl: provider === 'openai' ? `${sandbox.url}/v1` : sandbox.url,
	};
	return {
		api: createBatchApi(provider, creds, fetchImpl),
		store,
		batches: batchStoreFor(store),
		job,
		clock: fakeClock,
	};
}

/** `n` text-output records (`R0`, `R1`…), prompts as the nodes build them. */
export function textRecords(provider: ProviderName, n: number): PreparedRecord[] {
	const policy = inputPolicy({
		provider,
		scope: 'test-scope',
		model: MODEL[provider],
		maxTokens: 200,
		contextWindow: 0,
	});
	const out: PreparedRecord[] = [];
	for (let i = 0; i < n; i++) {
		const r = policy(i, {
			prompt: `Ticket ${i}: my invoice ${i * 7} is wrong`,
			system: '',
			recordId: `R${i}`,
		});
		if (isItemError(r)) throw new Error(r.message);
		out.push({
			index: i,
			recordId: r.recordId,
			promptHash: r.promptHash,
			request: r.request,
			item: { id: `R${i}` },
		});
	}
	return out;
}

export async function submit(ctx: JobContext, records: readonly PreparedRecord[], batchSize = 0) {
	const provider = ctx.api.provider;
	return await submitRecords(ctx, records, {
		caps: PROVIDER_CAPS[provider],
		batchSize,
		model: MODEL[provider],
	});
}

export function collectOptions(ctx: JobContext) {
	return {
		policy: {
			costOf: (model: string, usage: { inputTokens: number; outputTokens: number }) =>
				costUsd(model, usage, { batch: true }),
			now: () => fakeClock.t,
		},
		checkpoint: createCheckpoint(ctx.store, ctx.job, { clock: fakeClock }),
	};
}

/** `code` per record ID ('ok' for a success), sorted by record ID. */
export function verdicts(
	outcomes: ReadonlyArray<
		| { entry: { recordId: string }; ok: true }
		| { entry: { recordId: string }; ok: false; error: { code: string } }
	>,
): Record<string, string> {
	const out: Record<string, string> = {};
	for (const o of [...outcomes].sort((a, b) => a.entry.recordId.localeCompare(b.entry.recordId)))
		out[o.entry.recordId] = o.ok ? 'ok' : o.error.code;
	return out;
}
