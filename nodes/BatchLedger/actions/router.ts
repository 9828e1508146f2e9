import {
	NodeOperationError,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeProperties,
} from 'n8n-workflow';

import { LedgerStoreError, type LedgerStore } from '../../../core/ledger';
import { ledgerStoreFor } from '../../shared/ledger';
import { readConfig, type LedgerNodeConfig } from '../params';
import type { LedgerDeps, LedgerRun } from './common';
import * as deleteJob from './deleteJob.operation';
import * as exportJob from './exportJob.operation';
import * as getFailed from './getFailed.operation';
import * as jobStatus from './jobStatus.operation';
import * as recordResults from './recordResults.operation';
import * as requeueStale from './requeueStale.operation';
import * as skipCompleted from './skipCompleted.operation';
import * as stats from './stats.operation';

const openLedger = (ctx: IExecuteFunctions, cfg: LedgerNodeConfig): Promise<LedgerStore> =>
	ledgerStoreFor(ctx, cfg.ledgerStore, cfg.ledgerSqlitePath);

/**
 * The one place that opens the store, dispatches to the operation and turns store failures
 * into a NodeOperationError. Per-item input (record IDs, results) is read before the store is
 * opened, so a bad expression or wiring fails the run before anything is written.
 */
export async function router(
	ctx: IExecuteFunctions,
	deps: LedgerDeps = {},
): Promise<INodeExecutionData[][]> {
	const { openStore = openLedger, now = Date.now } = deps;
	const cfg = readConfig(ctx, operationProperties);
	const items = ctx.getInputData();
	const node = ctx.getNode();
	const ids = cfg.operation === 'skipCompleted' ? skipCompleted.readInput(ctx, items) : [];
	const writes = cfg.operation === 'recordResults' ? recordResults.readInput(ctx, items, cfg) : [];

	try {
		const store = await openStore(ctx, cfg);
		const base = { ctx, items, store, now, at: new Date(now()).toISOString() };
		const run = <O extends LedgerNodeConfig['operation']>(
			c: Extract<LedgerNodeConfig, { operation: O }>,
		): LedgerRun<O> => ({ ...base, cfg: c });
		switch (cfg.operation) {
			case 'skipCompleted':
				return await skipCompleted.execute(run(cfg), ids);
			case 'recordResults':
				return await recordResults.execute(run(cfg), writes);
			case 'getFailed':
				return await getFailed.execute(run(cfg));
			case 'exportJob':
				return await exportJob.execute(run(cfg));
			case 'requeueStale':
				return await requeueStale.execute(run(cfg));
			case 'stats':
				return await stats.execute(run(cfg));
			case 'jobStatus':
				return await jobStatus.execute(run(cfg));
			case 'deleteJob':
				return await deleteJob.execute(run(cfg));
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

/** Each operation's own parameters, in the order the editor shows them. */
export const operationProperties: INodeProperties[] = [
	...skipCompleted.description,
	...recordResults.description,
	...requeueStale.description,
	...exportJob.description,
	...getFailed.description,
	...stats.description,
	...jobStatus.description,
	...deleteJob.description,
];
