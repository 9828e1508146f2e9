/**
 * In-process workflow runner on n8n-core's WorkflowExecute (there is no published n8n
 * test harness). Used by the workflow tests, the demo and the benchmarks; not shipped. Runs real workflow JSON with our node classes and stubs for the n8n base
 * nodes the examples use (triggers pass their input through; data nodes get pinData).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.N8N_USER_FOLDER ??= mkdtempSync(join(tmpdir(), 'n8n-test-'));
process.env.N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS ??= 'false';

import { createRequire } from 'node:module';

import { Credentials, ExecutionLifecycleHooks, WorkflowExecute } from 'n8n-core';
import {
	createRunExecutionData,
	ICredentialsHelper,
	isExpression,
	NodeConnectionTypes,
	NodeHelpers,
	Workflow,
	type ICredentialDataDecryptedObject,
	type IExecuteFunctions,
	type IHttpRequestOptions,
	type INode,
	type INodeExecutionData,
	type INodeType,
	type INodeTypes,
	type IRun,
	type IWorkflowExecuteAdditionalData,
	type NodeExecutionHint,
	type WorkflowExecuteMode,
	type IPinData,
	type IConnections,
} from 'n8n-workflow';

class TestNodeTypes implements INodeTypes {
	constructor(private readonly map: Record<string, INodeType>) {}
	getByName(type: string): INodeType {
		const n = this.map[type];
		if (!n) throw new Error(`Unknown node type ${type}`);
		return n;
	}
	getByNameAndVersion(type: string, version?: number): INodeType {
		return NodeHelpers.getVersionedNodeType(this.getByName(type), version) as INodeType;
	}
	getKnownTypes() {
		return {};
	}
}

class TestCredentialsHelper extends ICredentialsHelper {
	constructor(private readonly creds: Record<string, ICredentialDataDecryptedObject>) {
		super();
	}
	getParentTypes() {
		return [];
	}
	isCredentialUsableByNode() {
		return true;
	}
	async authenticate(
		_c: ICredentialDataDecryptedObject,
		_t: string,
		req: IHttpRequestOptions,
	): Promise<IHttpRequestOptions> {
		return req;
	}
	async preAuthentication() {
		return undefined;
	}
	async runPreAuthentication() {
		return undefined as never;
	}
	async getCredentials() {
		return new Credentials({ id: null, name: '' }, '', '');
	}
	async getDecrypted(_ad: unknown, _nodeCreds: unknown, type: string) {
		return this.creds[type] ?? {};
	}
	async updateCredentials() {}
	async updateCredentialsOauthTokenData() {}
	getCredentialsProperties() {
		return [];
	}
}
void isExpression;

interface LoggerLike {
	error(m: string): void;
	warn(m: string): void;
	info(m: string): void;
	debug(m: string): void;
	verbose(m: string): void;
	scoped(): LoggerLike;
}

/**
 * Nodes log through n8n-core's DI container (`Container.get(Logger)`). The copies of @n8n/di
 * and @n8n/backend-common that n8n-core itself resolves are the ones that matter (npm may
 * hoist other versions next to them), so they are required from n8n-core's own location.
 */
function installLogger(log: (line: string) => void): void {
	const fromCore = createRequire(require.resolve('n8n-core'));
	const { Container } = fromCore('@n8n/di') as { Container: { set(t: unknown, v: unknown): void } };
	const { Logger } = fromCore('@n8n/backend-common') as { Logger: unknown };
	const logger: LoggerLike = {
		error: (m) => log(`error: ${m}`),
		warn: (m) => log(`warn: ${m}`),
		info: (m) => log(m),
		debug: () => undefined,
		verbose: () => undefined,
		scoped: () => logger,
	};
	Container.set(Logger, logger);
}

export interface WorkflowJson {
	id?: string;
	name?: string;
	nodes: INode[];
	connections: IConnections;
	settings?: Record<string, unknown>;
	pinData?: IPinData;
}

export interface RunResult {
	run: IRun;
	/** Output arrays of a node's runs: outputs(name)[runIndex][outputIndex] = items. */
	outputs(node: string): INodeExecutionData[][][];
	/** All items a node put on one output over all its runs. */
	items(node: string, output?: number): INodeExecutionData[];
	hints: Record<string, NodeExecutionHint[]>;
	order: string[];
	logs: string[];
}

export async function runWorkflow(
	wf: WorkflowJson,
	o: {
		credentials?: Record<string, ICredentialDataDecryptedObject>;
		/** Items the start node emits (the trigger passes them through). */
		input?: INodeExecutionData[];
		pinData?: IPinData;
		mode?: WorkflowExecuteMode;
		/** Receives what nodes log at info level and above (default: n8n's logger). */
		logger?: (line: string) => void;
		/** Node types by type name (see test/helpers/node-types.ts, scripts/lib/node-types.ts). */
		nodeTypes: Record<string, INodeType>;
	},
): Promise<RunResult> {
	const mode = o.mode ?? 'trigger';
	if (o.logger) installLogger(o.logger);
	const nodeTypes = new TestNodeTypes(o.nodeTypes);
	const workflow = new Workflow({
		id: wf.id ?? 'test',
		nodes: wf.nodes,
		connections: wf.connections,
		nodeTypes,
		settings: wf.settings,
		active: false,
	});
	const hooks = new ExecutionLifecycleHooks(mode, '1', {
		id: wf.id ?? 'test',
		name: wf.name ?? 'test',
		nodes: wf.nodes,
		connections: wf.connections,
		active: false,
		settings: wf.settings ?? {},
	} as never);
	const order: string[] = [];
	const hints: Record<string, NodeExecutionHint[]> = {};
	hooks.addHandler('nodeExecuteAfter', (name, taskData) => {
		order.push(name);
		if (taskData.hints?.length) (hints[name] ??= []).push(...taskData.hints);
	});
	let resolve!: (r: IRun) => void;
	const done = new Promise<IRun>((r) => (resolve = r));
	hooks.addHandler('workflowExecuteAfter', (run) => resolve(run));
	const additionalData = {
		executionId: '1',
		hooks,
		credentialsHelper: new TestCredentialsHelper(o.credentials ?? {}),
		restApiUrl: 'http://localhost/rest',
		instanceBaseUrl: 'http://localhost/',
		formWaitingBaseUrl: 'http://localhost/form-waiting',
		webhookBaseUrl: 'http://localhost/webhook',
		webhookWaitingBaseUrl: 'http://localhost/webhook-waiting',
		webhookTestBaseUrl: 'http://localhost/webhook-test',
		variables: {},
		currentNodeExecutionIndex: 0,
		logAiEvent: () => {},
		executeWorkflow: async () => {
			throw new Error('sub-workflows are not supported in the test harness');
		},
		getRunExecutionData: async () => undefined,
	} as unknown as IWorkflowExecuteAdditionalData;
	const startNode = workflow.getStartNode();
	if (!startNode) throw new Error('workflow has no start node');
	const runExecutionData = createRunExecutionData({
		executionData: {
			nodeExecutionStack: [
				{ node: startNode, data: { main: [o.input ?? [{ json: {} }]] }, source: null },
			],
		},
		resultData: { pinData: o.pinData ?? wf.pinData },
	} as never);
	const we = new WorkflowExecute(additionalData, mode, runExecutionData);
	await we.processRunExecutionData(workflow);
	const run = await done;
	const runData = run.data.resultData.runData;
	const outputs = (node: string) =>
		(runData[node] ?? []).map((t) => (t.data?.main ?? []).map((x) => x ?? []));
	return {
		run,
		outputs,
		items: (node, output = 0) => outputs(node).flatMap((r) => r[output] ?? []),
		hints,
		order,
		logs: [],
	};
}

/** A trigger-like start node that passes its input through (any non-manual mode does). */
export class PassThroughNode implements INodeType {
	description = {
		displayName: 'Pass Through',
		name: 'passThrough',
		group: ['transform'],
		version: [1, 1.1, 1.2, 1.3, 2, 2.1, 3],
		description: 'test stub',
		defaults: { name: 'Pass Through' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		properties: [],
	} as INodeType['description'];
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [this.getInputData()];
	}
}
