import type { INodeType } from 'n8n-workflow';

import { packageNodeTypes } from '../../scripts/lib/node-types';

/** Every node type of the package (TypeScript sources) plus the base-node stubs. */
export async function allNodeTypes(): Promise<Record<string, INodeType>> {
	return packageNodeTypes();
}
