import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import type { LedgerRecord, LedgerStore } from '../../../core/ledger';
import type { LedgerNodeConfig, Operation } from '../params';

/** Injection points for tests (their own store, a fixed time); n8n itself passes nothing. */
export interface LedgerDeps {
	openStore?: (ctx: IExecuteFunctions, cfg: LedgerNodeConfig) => Promise<LedgerStore>;
	now?: () => number;
}

/** What every operation is handed by the router: the store is opened once, there. */
export interface LedgerRun<O extends Operation> {
	ctx: IExecuteFunctions;
	items: INodeExecutionData[];
	store: LedgerStore;
	cfg: Extract<LedgerNodeConfig, { operation: O }>;
	/** ISO time of this run's writes. */
	at: string;
	now: () => number;
}

export const showFor = (...operation: Operation[]) => ({ show: { operation } });

const PAGE = 1000;

/** Keyset-paged read of a job's records; `limit` 0 = all. */
export async function collect(
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

/** Records as output items; they all derive from the single trigger item. */
export function toItems(records: LedgerRecord[]): INodeExecutionData[] {
	return records.map((r) => ({ json: r as unknown as IDataObject, pairedItem: { item: 0 } }));
}

/** Return All / Limit, shared by the operations that list records. */
export function pagingProperties(...operations: Operation[]): INodeProperties[] {
	return [
		{
			displayName: 'Return All',
			name: 'returnAll',
			type: 'boolean',
			default: true,
			displayOptions: showFor(...operations),
			description: 'Whether to return all results or only up to a given limit',
		},
		{
			displayName: 'Limit',
			name: 'limit',
			type: 'number',
			default: 50,
			typeOptions: { minValue: 1 },
			displayOptions: { show: { operation: operations, returnAll: [false] } },
			description: 'Max number of results to return',
		},
	];
}
