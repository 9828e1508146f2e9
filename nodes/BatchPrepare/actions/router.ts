import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { readOperation } from '../params';
import type { PrepareDeps } from './context';
import * as estimate from './estimate.operation';
import * as prepare from './prepare.operation';

const operations = { prepare, estimate } as const;

/** Dispatches to the operation the node is set to; an unknown one fails in `readOperation`. */
export async function router(
	ctx: IExecuteFunctions,
	deps: PrepareDeps = {},
): Promise<INodeExecutionData[][]> {
	return await operations[readOperation(ctx)].execute(ctx, deps);
}

/** Each operation's own parameters, in the order the editor shows them. */
export const operationProperties: INodeProperties[] = [
	...prepare.description,
	...estimate.description,
];
