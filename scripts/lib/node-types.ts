import {
	NodeConnectionTypes,
	NodeOperationError,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
} from 'n8n-workflow';

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

/**
 * The IF node (v2) for the examples' gates: boolean "is true" / "is false" conditions on an
 * expression, joined by and / or; item to output 0 (true) or 1 (false). Any other operator
 * throws, so an example never runs in-process with a condition this stub would misread.
 */
class IfStub implements INodeType {
	description = {
		...new PassThroughNode().description,
		displayName: 'If (stub)',
		name: 'ifStub',
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		// Declared so the workflow keeps the example's value (undeclared parameters are dropped).
		properties: [{ displayName: 'Conditions', name: 'conditions', type: 'json', default: {} }],
	} as INodeType['description'];
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const out: INodeExecutionData[][] = [[], []];
		this.getInputData().forEach((item, i) => {
			const filter = this.getNode().parameters.conditions as unknown as {
				combinator?: 'and' | 'or';
				conditions: Array<{ leftValue: string; operator: { type: string; operation: string } }>;
			};
			const results = filter.conditions.map((c) => {
				if (c.operator.type !== 'boolean' || !['true', 'false'].includes(c.operator.operation))
					throw new Error(`IF stub: unsupported operator ${JSON.stringify(c.operator)}`);
				const value = c.leftValue.startsWith('=')
					? this.evaluateExpression(c.leftValue.slice(1), i)
					: c.leftValue;
				return (value === true) === (c.operator.operation === 'true');
			});
			const pass = filter.combinator === 'or' ? results.some(Boolean) : results.every(Boolean);
			out[pass ? 0 : 1].push({ json: item.json, pairedItem: { item: i } });
		});
		return out;
	}
}

/** Stop and Error: fails the execution with the node's message, as the real node does. */
class StopAndErrorStub extends PassThroughNode {
	description = {
		...new PassThroughNode().description,
		properties: [
			{ displayName: 'Error Message', name: 'errorMessage', type: 'string', default: '' },
		],
	} as INodeType['description'];
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		throw new NodeOperationError(this.getNode(), String(this.getNodeParameter('errorMessage', 0)));
	}
}

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
	map['n8n-nodes-base.if'] = new IfStub();
	map['n8n-nodes-base.stopAndError'] = new StopAndErrorStub();
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
