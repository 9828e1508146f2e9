import {
	NodeApiError,
	NodeOperationError,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeProperties,
	type JsonObject,
} from 'n8n-workflow';

import { JobConfigError } from '../../../core/batch-api/job-check';
import { classifyError } from '../../../core/call/classify';
import { LlmBatchError } from '../../../core/call/errors';
import { LedgerStoreError } from '../../../core/ledger';
import * as cancel from './cancel.operation';
import * as collect from './collect.operation';
import type { JobDeps } from './context';
import * as resubmit from './resubmit.operation';
import * as status from './status.operation';
import * as submit from './submit.operation';

const operations = { submit, status, collect, cancel, resubmit } as const;
type Operation = keyof typeof operations;

/** Each operation's own parameters, in the order the editor shows them. */
export const operationProperties: INodeProperties[] = [
	...submit.description,
	...status.description,
	...collect.description,
	...cancel.description,
	...resubmit.description,
];

/**
 * The one place an operation's error becomes an n8n error: provider errors (the batch API
 * refused a call) as NodeApiError with the taxonomy code, ledger errors as
 * NodeOperationError. Per-record failures never get here: they are items on Failed.
 */
export async function router(
	ctx: IExecuteFunctions,
	deps: JobDeps = {},
): Promise<INodeExecutionData[][]> {
	const operation = ctx.getNodeParameter('operation', 0) as Operation;
	const op = operations[operation];
	if (!op) throw new NodeOperationError(ctx.getNode(), `Unknown operation: ${String(operation)}`);
	try {
		return await op.execute(ctx, deps);
	} catch (e) {
		// Already an n8n error (bad configuration found by the operation): as it is.
		if (e instanceof NodeOperationError || e instanceof NodeApiError)
			throw new NodeOperationError(ctx.getNode(), e, { description: e.description ?? undefined });
		// The job cannot be run as configured (unknown name, other provider): nothing was sent.
		if (e instanceof JobConfigError)
			throw new NodeOperationError(ctx.getNode(), e.message, { description: e.description });
		if (e instanceof LedgerStoreError) {
			throw new NodeOperationError(ctx.getNode(), e.message, {
				description: 'The ledger could not be read or written; rerun once it is back.',
			});
		}
		const err = e instanceof LlmBatchError ? e : classifyError(e, undefined, Date.now());
		throw new NodeApiError(ctx.getNode(), { code: err.code, message: err.message } as JsonObject, {
			message: `${operation}: ${err.message}`,
			description: `Error code ${err.code}. Batches created before the error are recorded in the ledger; running the operation again continues the job.`,
			httpCode: err.status !== undefined ? String(err.status) : undefined,
		});
	}
}
