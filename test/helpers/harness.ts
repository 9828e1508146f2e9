import type {
	ICredentialDataDecryptedObject,
	INode,
	INodeExecutionData,
	INodeType,
	IPinData,
	WorkflowExecuteMode,
} from 'n8n-workflow';

import { runWorkflow as run, type RunResult, type WorkflowJson } from '../../scripts/lib/harness';
import { allNodeTypes } from './node-types';

export { PassThroughNode, type RunResult, type WorkflowJson } from '../../scripts/lib/harness';

/** Runs a workflow in-process with every node of the package (from the TypeScript sources). */
export async function runWorkflow(
	wf: WorkflowJson,
	o: {
		credentials?: Record<string, ICredentialDataDecryptedObject>;
		input?: INodeExecutionData[];
		pinData?: IPinData;
		mode?: WorkflowExecuteMode;
		extraNodeTypes?: Record<string, INodeType>;
		/** Receives what nodes log at info level and above. */
		logger?: (line: string) => void;
	} = {},
): Promise<RunResult> {
	return await run(wf, { ...o, nodeTypes: { ...(await allNodeTypes()), ...o.extraNodeTypes } });
}

/** A workflow node at (x, 0), its name as its ID, type version 1. */
export function workflowNode(
	name: string,
	type: string,
	x: number,
	parameters: object = {},
): INode {
	return {
		id: name,
		name,
		type,
		typeVersion: 1,
		position: [x, 0],
		parameters: parameters as INode['parameters'],
	};
}
