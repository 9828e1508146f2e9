import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';

import {
	isCompletedFor,
	LedgerStoreError,
	type LedgerRecord,
	type LedgerStore,
	type LedgerWrite,
} from '../../core/ledger';
import type { ItemError, LlmResult } from '../../core/types';
import { ledgerStoreFor } from '../shared/ledger';
import { readConfig, readRecordId, type LedgerNodeConfig } from './params';

const PAGE = 1000;

/** The ledger is opened and used through this; tests hand in their own store. */
export type OpenStore = (ctx: IExecuteFunctions, cfg: LedgerNodeConfig) => Promise<LedgerStore>;

const defaultOpenStore: OpenStore = (ctx, cfg) =>
	ledgerStoreFor(ctx, cfg.ledgerStore, cfg.ledgerSqlitePath);

export async function executeBatchLedger(
	ctx: IExecuteFunctions,
	openStore: OpenStore = defaultOpenStore,
	now: () => number = Date.now,
): Promise<INodeExecutionData[][]> {
	const cfg = readConfig(ctx);
	const items = ctx.getInputData();
	const node = ctx.getNode();
	// Per-item input is checked before the store is opened: a wrong Record ID expression fails
	// the run before anything is written.
	const prepared = cfg.operation === 'skipCompleted' ? readIds(ctx, items) : undefined;
	const prompts = cfg.operation === 'skipCompleted' ? readPrompts(ctx, items) : undefined;
	const writes =
		cfg.operation === 'recordResults' ? readResults(ctx, items, cfg.resultField) : undefined;

	try {
		const store = await openStore(ctx, cfg);
		const at = new Date(now()).toISOString();
		switch (cfg.operation) {
			case 'skipCompleted': {
				const ids = prepared ?? [];
				const stored = await store.getMany(cfg.ledgerJob, [...new Set(ids)]);
				const todo: INodeExecutionData[] = [];
				const completed: INodeExecutionData[] = [];
				const register: LedgerWrite[] = [];
				items.forEach((item, i) => {
					const record = stored.get(ids[i]);
					if (record?.result && isCompletedFor(record, prompts?.[i])) {
						const json = cfg.includeResult
							? {
									...item.json,
									[cfg.resultField]: {
										...record.result,
										recordId: ids[i],
									} as unknown as IDataObject,
								}
							: item.json;
						completed.push({ json, pairedItem: { item: i } });
					} else {
						todo.push({ json: item.json, pairedItem: { item: i } });
						if (!record && cfg.registerPending)
							register.push({ type: 'pending', recordId: ids[i], at });
					}
				});
				await store.writeBatch(cfg.ledgerJob, register);
				return [todo, completed];
			}
			case 'recordResults': {
				const list = writes ?? [];
				const existing = await store.getMany(cfg.ledgerJob, [
					...new Set(list.map((w) => w.recordId)),
				]);
				// The ledger counts attempts it saw start; for results recorded afterwards, raise the
				// count to what the call node reports instead of adding it twice.
				const seen = new Map<string, number>();
				const batch: LedgerWrite[] = list.map((w) => {
					const before = seen.get(w.recordId) ?? existing.get(w.recordId)?.attempts ?? 0;
					const delta = Math.max(0, w.attempts - before);
					seen.set(w.recordId, before + delta);
					return w.kind === 'succeeded'
						? { type: 'succeeded', result: w.result, at, attemptsDelta: delta }
						: {
								type: 'failed',
								recordId: w.recordId,
								promptHash: w.promptHash,
								error: w.error,
								at,
								attemptsDelta: delta,
							};
				});
				await store.writeBatch(cfg.ledgerJob, batch);
				return [items.map((item, i) => ({ json: item.json, pairedItem: { item: i } }))];
			}
			case 'getFailed':
				return [toItems(await collect(store, cfg.ledgerJob, 'failed', cfg.limit))];
			case 'exportJob':
				return [
					toItems(
						await collect(
							store,
							cfg.ledgerJob,
							cfg.status === 'all' ? undefined : cfg.status,
							cfg.limit,
						),
					),
				];
			case 'requeueStale': {
				const cutoff = new Date(now() - cfg.olderThanMinutes * 60_000).toISOString();
				const records = cfg.requeue
					? await store.requeueStale(cfg.ledgerJob, cutoff, at)
					: await collectStale(store, cfg.ledgerJob, cutoff);
				return [toItems(records)];
			}
			case 'stats':
				return [
					[
						{
							json: (await store.stats(cfg.ledgerJob)) as unknown as IDataObject,
							pairedItem: { item: 0 },
						},
					],
				];
			case 'deleteJob': {
				const deleted = await store.deleteJob(cfg.ledgerJob);
				return [[{ json: { job: cfg.ledgerJob, deleted }, pairedItem: { item: 0 } }]];
			}
		}
	} catch (error) {
		if (error instanceof LedgerStoreError) {
			throw new NodeOperationError(node, error.message, {
				description:
					cfg.operation === 'recordResults'
						? 'Nothing of this run was recorded (the writes are one transaction); run the node again once the store is back.'
						: 'The ledger store could not be used; nothing was changed by this node.',
			});
		}
		throw new NodeOperationError(node, error as Error);
	}
}

/** The optional Prompt / System Prompt of each item (the same expressions as LLM Batch Call's). */
function readPrompts(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
): Array<{ system: string; prompt: string }> {
	const text = (v: unknown) =>
		typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
	return items.map((_, i) => ({
		prompt: text(ctx.getNodeParameter('prompt', i, '')),
		system: text(ctx.getNodeParameter('systemPrompt', i, '')),
	}));
}

function readIds(ctx: IExecuteFunctions, items: INodeExecutionData[]): string[] {
	return items.map((_, i) => {
		const id = readRecordId(ctx, i);
		if (id === '') {
			throw new NodeOperationError(ctx.getNode(), `Item ${i} has no record ID`, {
				itemIndex: i,
				description:
					'The Record ID expression resolved to nothing. Give every item a stable ID (Batch Prepare adds `recordId`) or change the expression.',
			});
		}
		return id;
	});
}

type ResultWrite =
	| { kind: 'succeeded'; recordId: string; result: LlmResult; attempts: number }
	| { kind: 'failed'; recordId: string; promptHash: string; error: ItemError; attempts: number };

function isObject(v: unknown): v is Record<string, unknown> {
	return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Success items carry the result, Failed items `json.error`; anything else is a wiring mistake. */
function readResults(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
	resultField: string,
): ResultWrite[] {
	return items.map((item, i) => {
		const fail = (message: string) =>
			new NodeOperationError(ctx.getNode(), `Item ${i}: ${message}`, {
				itemIndex: i,
				description:
					'Connect the Success and Failed outputs of LLM Batch Call to this node; nothing was recorded.',
			});
		const recordId = readRecordId(ctx, i);
		if (recordId === '') throw fail('no record ID (the Record ID expression resolved to nothing)');
		const result = item.json[resultField];
		if (isObject(result) && typeof result.promptHash === 'string') {
			const r = result as unknown as LlmResult;
			return {
				kind: 'succeeded',
				recordId,
				result: { ...r, recordId },
				attempts: Number(r.attempts) || 0,
			};
		}
		const error = item.json.error;
		if (isObject(error) && typeof error.code === 'string') {
			const e = error as unknown as ItemError & { promptHash?: unknown };
			const hash =
				typeof e.promptHash === 'string'
					? e.promptHash
					: typeof item.json.promptHash === 'string'
						? item.json.promptHash
						: '';
			return {
				kind: 'failed',
				recordId,
				promptHash: hash,
				error: e,
				attempts: Number(e.attempts) || 0,
			};
		}
		throw fail(`neither a result in "${resultField}" nor an error in "error"`);
	});
}

async function collect(
	store: LedgerStore,
	job: string,
	status: LedgerRecord['status'] | undefined,
	limit: number,
): Promise<LedgerRecord[]> {
	const out: LedgerRecord[] = [];
	let after: string | undefined;
	for (;;) {
		const want = limit > 0 ? Math.min(PAGE, limit - out.length) : PAGE;
		if (want <= 0) break;
		const page = await store.list(job, { status, afterRecordId: after, limit: want });
		out.push(...page);
		if (page.length < want) break;
		after = page[page.length - 1].recordId;
	}
	return out;
}

async function collectStale(
	store: LedgerStore,
	job: string,
	cutoff: string,
): Promise<LedgerRecord[]> {
	// listStale has no keyset paging; stale records are few, one large page is enough.
	return await store.listStale(job, cutoff, 100_000);
}

function toItems(records: LedgerRecord[]): INodeExecutionData[] {
	return records.map((r) => ({ json: r as unknown as IDataObject, pairedItem: { item: 0 } }));
}
