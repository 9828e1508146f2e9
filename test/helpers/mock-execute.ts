/**
 * A mocked `IExecuteFunctions` for node tests: input items, parameters (fixed or per item),
 * node, logger, execution hints, continueOnFail, credentials, cancel signal, execution
 * context and static data. Everything a node calls that is not listed here throws, so a
 * test notices when a node starts to depend on something new.
 *
 *   const m = mockExecute({ items: [{ text: 'a' }], parameters: { field: 'text', keep: (i, item) => item.json.text !== '' } });
 *   const out = await executeMyNode(m.fns);
 *   expect(m.hints).toEqual([...]);
 */
import type {
	ICredentialDataDecryptedObject,
	IDataObject,
	IExecuteFunctions,
	INode,
	INodeExecutionData,
	NodeExecutionHint,
} from 'n8n-workflow';

/**
 * A parameter: a plain value, or a function of the item — the stand-in for an n8n
 * expression such as `={{ $json.label === undefined }}`, evaluated per item.
 */
export type MockParam = unknown | ((itemIndex: number, item: INodeExecutionData) => unknown);

/** Wraps a function so it is returned as a value instead of being called per item. */
export class Literal {
	constructor(readonly value: unknown) {}
}

export interface MockOptions {
	/** Input items of input 0, as plain JSON (wrapped into `{ json }`). */
	items?: IDataObject[];
	/** Full input items per input index; wins over `items`. */
	inputs?: INodeExecutionData[][];
	/** Keyed by parameter name; dotted names (`options.maxTokens`) are resolved too. */
	parameters?: Record<string, MockParam>;
	node?: Partial<INode>;
	continueOnFail?: boolean;
	/** Keyed by credential type name. */
	credentials?: Record<string, ICredentialDataDecryptedObject>;
	signal?: AbortSignal;
	/** Share one object between mocks to simulate several runs of the node in one execution. */
	context?: Record<string, IDataObject>;
	staticData?: Record<string, IDataObject>;
	executionId?: string;
	mode?: string;
}

export interface LogLine {
	level: 'error' | 'warn' | 'info' | 'debug' | 'verbose';
	message: string;
	meta?: unknown;
}

export interface MockExecute {
	fns: IExecuteFunctions;
	hints: NodeExecutionHint[];
	logs: LogLine[];
	context: Record<string, IDataObject>;
	staticData: Record<string, IDataObject>;
	/** Parameter names read, in order (with item index). */
	reads: Array<{ name: string; itemIndex: number }>;
	/** Binary properties read through `helpers.getBinaryDataBuffer`, in order. */
	binaryReads: Array<{ itemIndex: number; property: string }>;
}

function lookup(
	params: Record<string, MockParam>,
	name: string,
): { found: boolean; value?: MockParam } {
	if (Object.hasOwn(params, name)) return { found: true, value: params[name] };
	// `options.maxTokens` → params.options.maxTokens
	const parts = name.split('.');
	let current: unknown = params;
	for (const part of parts) {
		if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part))
			return { found: false };
		current = (current as Record<string, unknown>)[part];
	}
	return { found: true, value: current };
}

export function mockExecute(options: MockOptions = {}): MockExecute {
	const inputs: INodeExecutionData[][] = options.inputs ?? [
		(options.items ?? []).map((json) => ({ json })),
	];
	const parameters = options.parameters ?? {};
	const node: INode = {
		id: 'node-1',
		name: 'Test Node',
		type: 'n8n-nodes-llm-batch.test',
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
		...options.node,
	};
	const hints: NodeExecutionHint[] = [];
	const logs: LogLine[] = [];
	const context = options.context ?? {};
	const staticData = options.staticData ?? {};
	const reads: MockExecute['reads'] = [];
	const binaryReads: MockExecute['binaryReads'] = [];
	const log = (level: LogLine['level']) => (message: string, meta?: unknown) => {
		logs.push(meta === undefined ? { level, message } : { level, message, meta });
	};

	const implemented: Partial<IExecuteFunctions> = {
		getInputData: ((inputIndex = 0) =>
			inputs[inputIndex] ?? []) as IExecuteFunctions['getInputData'],
		getNodeParameter: ((name: string, itemIndex: number, fallbackValue?: unknown) => {
			reads.push({ name, itemIndex });
			const { found, value } = lookup(parameters, name);
			if (!found) {
				if (fallbackValue !== undefined) return fallbackValue;
				throw new Error(`Could not get parameter "${name}" (not set in the mock)`);
			}
			if (value instanceof Literal) return value.value;
			if (typeof value === 'function') {
				const item = inputs[0]?.[itemIndex] ?? { json: {} };
				return (value as (i: number, item: INodeExecutionData) => unknown)(itemIndex, item);
			}
			// n8n hands out copies; a node mutating its parameters must not leak into the test.
			return value === undefined ? fallbackValue : structuredClone(value);
		}) as IExecuteFunctions['getNodeParameter'],
		getNode: () => node,
		continueOnFail: () => options.continueOnFail ?? false,
		getCredentials: (async (type: string) => {
			const c = options.credentials?.[type];
			if (!c) throw new Error(`Node does not have any credentials set for "${type}"`);
			return c;
		}) as IExecuteFunctions['getCredentials'],
		getExecutionCancelSignal: () => options.signal,
		addExecutionHints: (...h: NodeExecutionHint[]) => {
			hints.push(...h);
		},
		getContext: ((type: string) => (context[type] ??= {})) as IExecuteFunctions['getContext'],
		getWorkflowStaticData: (type: string) => (staticData[type] ??= {}),
		getExecutionId: () => options.executionId ?? 'exec-1',
		getMode: (() => options.mode ?? 'manual') as IExecuteFunctions['getMode'],
		getWorkflow: () => ({ id: 'wf-1', name: 'Test Workflow', active: false }),
		logger: {
			error: log('error'),
			warn: log('warn'),
			info: log('info'),
			debug: log('debug'),
			verbose: log('verbose'),
		} as IExecuteFunctions['logger'],
		helpers: {
			// Binary data as n8n keeps it in memory (base64 in `data`); counted, so a test can see when files are read.
			getBinaryDataBuffer: async (itemIndex: number, property: string) => {
				binaryReads.push({ itemIndex, property });
				const data = inputs[0]?.[itemIndex]?.binary?.[property];
				if (!data) throw new Error(`Item ${itemIndex} has no binary property "${property}"`);
				return Buffer.from(data.data, 'base64');
			},
			returnJsonArray: (data: IDataObject | IDataObject[]) =>
				(Array.isArray(data) ? data : [data]).map((json) => ({ json })),
			constructExecutionMetaData: (
				items: INodeExecutionData[],
				meta: { itemData: INodeExecutionData['pairedItem'] },
			) => items.map((item) => ({ ...item, pairedItem: meta.itemData })),
			// As n8n's default (in-memory) binary mode stores it.
			prepareBinaryData: async (data: Buffer, fileName?: string, mimeType?: string) => ({
				data: data.toString('base64'),
				mimeType: mimeType ?? 'application/octet-stream',
				...(fileName ? { fileName, fileExtension: fileName.split('.').pop() } : {}),
				fileSize: `${data.length} B`,
			}),
		} as unknown as IExecuteFunctions['helpers'],
	};

	const fns = new Proxy(implemented, {
		get(target, prop, receiver) {
			if (prop in target) return Reflect.get(target, prop, receiver);
			if (typeof prop === 'symbol' || prop === 'then') return undefined;
			return () => {
				throw new Error(`mockExecute: IExecuteFunctions.${prop} is not mocked`);
			};
		},
	}) as IExecuteFunctions;

	return { fns, hints, logs, context, staticData, reads, binaryReads };
}

/** Output items without `pairedItem`, for assertions that only care about JSON. */
export function jsonOf(output: INodeExecutionData[][]): IDataObject[][] {
	return output.map((branch) => branch.map((item) => item.json));
}
