// The queue-mode workflow and helpers shared by test/e2e/queue.e2e.test.ts and
// bench/queue-mode.ts: a webhook receives { job, records }, Batch Prepare stamps the run,
// LLM Batch Call shares its limits through Redis and keeps the ledger on PostgreSQL, and
// Batch Report answers the webhook with one report.

// @ts-expect-error -- untyped .mjs module
import * as queueLib from '../../scripts/n8n/queue.mjs';

export const WEBHOOK_PATH = 'llm-batch-queue';
export const WORKFLOW_ID = 'llmBatchQueue01';
export const CREDENTIALS = { openAi: 'queueSandbox', redis: 'queueRedis', postgres: 'queuePg' };

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
	startWorker(
		userFolder: string,
		env: Record<string, string>,
		opts?: { concurrency?: number; name?: string },
	): Promise<Worker>;
};

export interface CallSettings {
	rpm: number;
	tpm: number;
	concurrency: number;
}

/** The workflow: Webhook -> Split Out -> Batch Prepare -> LLM Batch Call -> Batch Report -> Respond. */
export function queueWorkflow(call: CallSettings): Record<string, unknown> {
	const node = (
		id: string,
		name: string,
		type: string,
		typeVersion: number,
		x: number,
		parameters: Record<string, unknown>,
		extra: Record<string, unknown> = {},
	) => ({ id, name, type, typeVersion, position: [x, 300], parameters, ...extra });
	return {
		id: WORKFLOW_ID,
		name: 'LLM Batch: queue mode (shared limits)',
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			node(
				'hook',
				'Webhook',
				'n8n-nodes-base.webhook',
				2,
				0,
				{
					httpMethod: 'POST',
					path: WEBHOOK_PATH,
					responseMode: 'responseNode',
					options: {},
				},
				{ webhookId: '0b8f5f0e-8f5e-4b7e-9d3c-6a1f2b3c4d5e' },
			),
			node('split', 'Records', 'n8n-nodes-base.splitOut', 1, 220, {
				fieldToSplitOut: 'body.records',
				include: 'noOtherFields',
				options: {},
			}),
			node('prepare', 'Batch Prepare', 'n8n-nodes-llm-batch.batchPrepare', 1, 440, {
				operation: 'prepare',
				recordIdSource: 'field',
				recordIdField: 'id',
				dedupe: 'id',
			}),
			node(
				'call',
				'LLM Batch Call',
				'n8n-nodes-llm-batch.llmBatchCall',
				1,
				660,
				{
					provider: 'openai',
					model: 'gpt-4o-mini',
					systemPrompt: 'Classify the ticket.',
					prompt: '={{ $json.text }}',
					recordId: '={{ $json.recordId }}',
					outputFormat: 'text',
					concurrency: call.concurrency,
					requestsPerMinute: call.rpm,
					tokensPerMinute: call.tpm,
					shareLimitsThrough: 'redis',
					redisUnavailable: 'fallback',
					redisFallbackShare: 33,
					resultField: 'llm',
					ledgerStore: 'postgres',
					ledgerJob: "={{ $('Webhook').first().json.body.job }}",
					options: { maxTokens: 64, timeoutSeconds: 30, outputFields: 'result' },
				},
				{
					credentials: {
						llmBatchOpenAiApi: { id: CREDENTIALS.openAi, name: 'Queue sandbox' },
						llmBatchRedisApi: { id: CREDENTIALS.redis, name: 'Queue Redis' },
						llmBatchPostgresApi: { id: CREDENTIALS.postgres, name: 'Queue ledger' },
					},
				},
			),
			node('report', 'Batch Report', 'n8n-nodes-llm-batch.batchReport', 1, 880, {
				emitWhen: 'runComplete',
			}),
			node('respond', 'Respond', 'n8n-nodes-base.respondToWebhook', 1.1, 1100, {
				respondWith: 'json',
				responseBody: '={{ JSON.stringify($json) }}',
				options: {},
			}),
		],
		connections: {
			Webhook: { main: [[{ node: 'Records', type: 'main', index: 0 }]] },
			Records: { main: [[{ node: 'Batch Prepare', type: 'main', index: 0 }]] },
			'Batch Prepare': {
				main: [
					[{ node: 'LLM Batch Call', type: 'main', index: 0 }],
					[{ node: 'Batch Report', type: 'main', index: 0 }],
				],
			},
			'LLM Batch Call': {
				main: [
					[{ node: 'Batch Report', type: 'main', index: 0 }],
					[{ node: 'Batch Report', type: 'main', index: 0 }],
				],
			},
			'Batch Report': { main: [[{ node: 'Respond', type: 'main', index: 0 }]] },
		},
	};
}

/** The three credentials in `n8n import:credentials` format. */
export function queueCredentials(sandboxUrl: string, redis: Server, pg: Pg): unknown[] {
	const now = new Date().toISOString();
	return [
		{
			id: CREDENTIALS.openAi,
			name: 'Queue sandbox',
			type: 'llmBatchOpenAiApi',
			data: { apiKey: 'sandbox', baseUrl: `${sandboxUrl}/v1` },
		},
		{
			id: CREDENTIALS.redis,
			name: 'Queue Redis',
			type: 'llmBatchRedisApi',
			data: { host: redis.host, port: redis.port, password: '', database: 2, tls: false },
		},
		{
			id: CREDENTIALS.postgres,
			name: 'Queue ledger',
			type: 'llmBatchPostgresApi',
			data: {
				host: pg.host,
				port: pg.port,
				database: pg.database,
				user: pg.user,
				password: pg.password,
				ssl: 'disable',
			},
		},
	].map((c) => ({ ...c, createdAt: now, updatedAt: now }));
}

export function records(job: string, n: number): Array<{ id: string; text: string }> {
	return Array.from({ length: n }, (_, i) => ({
		id: `${job}-${i}`,
		text: `Ticket ${i} of ${job}: the export button does nothing.`,
	}));
}

export interface Report {
	items: number;
	outcomes: Record<string, number>;
	byErrorCode: Record<string, number>;
}

/** POSTs one batch to the webhook (as a user's system would) and returns the report. */
export async function postBatch(
	baseUrl: string,
	job: string,
	n: number,
	timeoutMs = 600_000,
): Promise<{ status: number; report?: Report; body: string }> {
	const res = await fetch(`${baseUrl}/webhook/${WEBHOOK_PATH}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ job, records: records(job, n) }),
		signal: AbortSignal.timeout(timeoutMs),
	});
	const body = await res.text();
	let report: Report | undefined;
	try {
		report = JSON.parse(body) as Report;
	} catch {
		report = undefined;
	}
	return { status: res.status, report, body };
}

/** Which workers ran an execution, from their logs ("Worker started execution 12 (job 3)"). */
export function executionsByWorker(workers: Worker[]): Record<string, string[]> {
	const out: Record<string, string[]> = {};
	for (const w of workers)
		out[w.name] = [...w.output().matchAll(/started execution (\d+)/gi)].map((m) => m[1]);
	return out;
}
