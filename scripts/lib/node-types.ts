import type { INodeType } from 'n8n-workflow';

import { BatchLedger } from '../../nodes/BatchLedger/BatchLedger.node';
import { BatchPrepare } from '../../nodes/BatchPrepare/BatchPrepare.node';
import { BatchReport } from '../../nodes/BatchReport/BatchReport.node';
import { LlmBatchCall } from '../../nodes/LlmBatchCall/LlmBatchCall.node';
import { LlmBatchJob } from '../../nodes/LlmBatchJob/LlmBatchJob.node';
import { RouteFailures } from '../../nodes/RouteFailures/RouteFailures.node';
import { ValidateOutput } from '../../nodes/ValidateOutput/ValidateOutput.node';
import { PassThroughNode } from './harness';

export const PACKAGE_NAME = 'n8n-nodes-llm-batch';

/** Base nodes the examples use; in-process they pass items through (data nodes get pinData). */
const BASE_STUBS = [
	'n8n-nodes-base.manualTrigger',
	'n8n-nodes-base.scheduleTrigger',
	'n8n-nodes-base.webhook',
	'n8n-nodes-base.code',
	'n8n-nodes-base.set',
	'n8n-nodes-base.noOp',
	'n8n-nodes-base.respondToWebhook',
	'n8n-nodes-base.stickyNote',
	'n8n-nodes-base.wait',
];

/** The Webhook stub must look like a trigger so WorkflowExecute starts from it. */
class WebhookStub extends PassThroughNode {
	async trigger() {
		return {};
	}
}

/** Every node of the package under the type name a community install gives it. */
export function packageNodeTypes(): Record<string, INodeType> {
	const map: Record<string, INodeType> = {};
	for (const t of BASE_STUBS) map[t] = new PassThroughNode();
	map['n8n-nodes-base.webhook'] = new WebhookStub();
	const nodes: INodeType[] = [
		new LlmBatchCall(),
		new BatchPrepare(),
		new ValidateOutput(),
		new RouteFailures(),
		new BatchReport(),
		new BatchLedger(),
		new LlmBatchJob(),
	];
	for (const n of nodes) map[`${PACKAGE_NAME}.${n.description.name}`] = n;
	return map;
}
