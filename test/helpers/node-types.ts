import type { INodeType } from 'n8n-workflow';

import { LlmBatchCall } from '../../nodes/LlmBatchCall/LlmBatchCall.node';
import { PassThroughNode } from '../../scripts/lib/harness';

const PKG = 'n8n-nodes-llm-batch';

/** Base-node types the examples use, stubbed: triggers and data nodes pass items through (tests pin data on them). */
const BASE_STUBS = [
	'n8n-nodes-base.manualTrigger',
	'n8n-nodes-base.scheduleTrigger',
	'n8n-nodes-base.webhook',
	'n8n-nodes-base.code',
	'n8n-nodes-base.set',
	'n8n-nodes-base.noOp',
	'n8n-nodes-base.respondToWebhook',
	'n8n-nodes-base.stickyNote',
];

async function tryLoad(path: string, cls: string): Promise<INodeType | undefined> {
	let mod: Record<string, new () => INodeType>;
	try {
		mod = (await import(path)) as Record<string, new () => INodeType>;
	} catch (e) {
		// Nodes another change has not added yet are simply absent from the map.
		if (/Cannot find module|Failed to load url|Does the file exist/i.test(String((e as Error).message))) return undefined;
		throw e;
	}
	return mod[cls] ? new mod[cls]() : undefined;
}

/** Every node type of the package under its real type name, plus the base stubs. */
export async function allNodeTypes(): Promise<Record<string, INodeType>> {
	const map: Record<string, INodeType> = {};
	for (const t of BASE_STUBS) map[t] = new PassThroughNode();
	map[`${PKG}.llmBatchCall`] = new LlmBatchCall();
	const others: Array<[string, string, string]> = [
		['batchPrepare', '../../nodes/BatchPrepare/BatchPrepare.node', 'BatchPrepare'],
		['validateOutput', '../../nodes/ValidateOutput/ValidateOutput.node', 'ValidateOutput'],
		['routeFailures', '../../nodes/RouteFailures/RouteFailures.node', 'RouteFailures'],
		['batchReport', '../../nodes/BatchReport/BatchReport.node', 'BatchReport'],
		['batchLedger', '../../nodes/BatchLedger/BatchLedger.node', 'BatchLedger'],
	];
	for (const [name, path, cls] of others) {
		const n = await tryLoad(path, cls);
		if (n) map[`${PKG}.${name}`] = n;
	}
	return map;
}
