import type { INode, INodeParameters } from 'n8n-workflow';

import type { WorkflowJson } from './harness';
import { PACKAGE_NAME } from './node-types';

/** One step of a linear workflow: the node, and which of its outputs feeds the next step. */
export interface Step {
	name: string;
	/** `llmBatchCall` for this package's nodes, or a full type (`n8n-nodes-base.noOp`). */
	type: string;
	parameters?: INodeParameters;
	/** Credential type -> name; the harness resolves credentials by type. */
	credentials?: Record<string, string>;
	/** How many outputs the node has (default 1); only output 0 feeds the next step. */
	outputs?: number;
}

/**
 * The one workflow builder of tests, benches and the demo: Start (manual trigger) followed by
 * the steps in a line, each step's first output connected to the next step.
 */
export function linearWorkflow(...steps: Step[]): WorkflowJson {
	const all: Step[] = [{ name: 'Start', type: 'n8n-nodes-base.manualTrigger' }, ...steps];
	const nodes: INode[] = all.map((s, i) => ({
		id: String(i + 1),
		name: s.name,
		type: s.type.includes('.') ? s.type : `${PACKAGE_NAME}.${s.type}`,
		typeVersion: 1,
		position: [i * 200, 0],
		parameters: s.parameters ?? {},
		...(s.credentials
			? {
					credentials: Object.fromEntries(
						Object.entries(s.credentials).map(([type, name]) => [type, { id: '1', name }]),
					),
				}
			: {}),
	}));
	const connections: WorkflowJson['connections'] = {};
	for (let i = 0; i + 1 < all.length; i++) {
		const outputs = Array.from({ length: all[i].outputs ?? 1 }, () => [] as never[]);
		connections[all[i].name] = {
			main: [[{ node: all[i + 1].name, type: 'main', index: 0 }], ...outputs.slice(1)],
		};
	}
	return { nodes, connections };
}

/**
 * LLM Batch Call with the given parameters (Success / Failed), on the credential of its
 * provider (`parameters.provider`, default OpenAI).
 */
export function llmBatchCallStep(
	parameters: INodeParameters,
	name = 'LLM Batch Call',
	credentialName = 'sandbox',
): Step {
	const provider = parameters.provider ?? 'openai';
	const credentialType =
		provider === 'anthropic'
			? 'llmBatchAnthropicApi'
			: provider === 'gemini'
				? 'llmBatchGeminiApi'
				: 'llmBatchOpenAiApi';
	return {
		name,
		type: 'llmBatchCall',
		parameters: { provider, ...parameters },
		credentials: { [credentialType]: credentialName },
		outputs: 2,
	};
}
