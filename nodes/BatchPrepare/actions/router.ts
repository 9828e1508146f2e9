import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { Clock } from '../../../core/types';
import { readOperation } from '../params';
import * as estimate from './estimate.operation';
import * as prepare from './prepare.operation';

/** Injection points for tests; n8n itself passes nothing. */
export interface PrepareDeps {
	clock?: Clock;
	/** The run ID stamped on every item (default: execution ID + random suffix). */
	runId?: () => string;
}

export async function executeBatchPrepare(
	ctx: IExecuteFunctions,
	deps: PrepareDeps = {},
): Promise<INodeExecutionData[][]> {
	return readOperation(ctx) === 'estimate'
		? await estimate.execute(ctx)
		: await prepare.execute(ctx, deps);
}

export const operationProperties = [...prepare.description, ...estimate.description];
