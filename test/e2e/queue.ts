// Typed access to the queue-mode helpers (scripts/n8n/queue.mjs, queue-workflow.mjs), shared
// with `npm run start:queue` and bench/queue-mode.mjs.

// @ts-expect-error -- untyped .mjs module
import * as queueLib from '../../scripts/n8n/queue.mjs';
// @ts-expect-error -- untyped .mjs module
import * as workflowLib from '../../scripts/n8n/queue-workflow.mjs';

export interface Server {
	host: string;
	port: number;
	stop(): Promise<void>;
}
export interface Pg extends Server {
	user: string;
	password: string;
	database: string;
}
export interface Worker {
	name: string;
	process: { pid: number; exitCode: number | null };
	output(): string;
	stop(): Promise<void>;
	kill(): Promise<void>;
}
export interface Topology {
	redis: Server;
	pg: Pg;
	main: { baseUrl: string; output(): string; stop(): Promise<void> };
	workers: Worker[];
	env: Record<string, string>;
	stop(): Promise<void>;
}

export const queue = queueLib as {
	startQueueTopology(
		userFolder: string,
		opts: {
			workers?: number;
			concurrency?: number;
			port?: number;
			prepare?: (env: Record<string, string>, dbs: { redis: Server; pg: Pg }) => Promise<void>;
			onLine?: (proc: string, line: string) => void;
			extraEnv?: Record<string, string>;
		},
	): Promise<Topology>;
};

export interface Report {
	items: number;
	outcomes: Record<string, number>;
	byErrorCode: Record<string, number>;
}

const wf = workflowLib as {
	WEBHOOK_PATH: string;
	WORKFLOW_ID: string;
	queueWorkflow(call: { rpm: number; tpm: number; concurrency: number }): Record<string, unknown>;
	queueCredentials(sandboxUrl: string, limits: Server, pg: Pg): unknown[];
	postBatch(
		baseUrl: string,
		job: string,
		n: number,
		timeoutMs?: number,
	): Promise<{ status: number; report?: Report; body: string }>;
	executionsByWorker(workers: Worker[]): Record<string, string[]>;
	BIG_JOB_HOOKS: { start: string; chunk: string };
	bigJobWorkflow(opts: {
		baseUrl: string;
		reportUrl: string;
		rpm: number;
		chunkSize: number;
	}): { id: string } & Record<string, unknown>;
};

export const {
	WEBHOOK_PATH,
	WORKFLOW_ID,
	queueWorkflow,
	queueCredentials,
	postBatch,
	executionsByWorker,
	BIG_JOB_HOOKS,
	bigJobWorkflow,
} = wf;
