// The queue-mode workflows shared by test/e2e/queue.e2e.test.ts and bench/queue-mode.mjs: a webhook
// receives { job, records }, Batch Prepare stamps the run, LLM Batch Call shares its limits through
// Redis and keeps the ledger on PostgreSQL, and Batch Report answers the webhook with one report;
// and example 05 (a job bigger than one execution) made startable by a webhook.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { postgresCredentialData } from './lib.mjs';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const WEBHOOK_PATH = 'llm-batch-queue';
export const WORKFLOW_ID = 'llmBatchQueue01';
export const CREDENTIALS = { openAi: 'queueSandbox', redis: 'queueRedis', postgres: 'queuePg' };

const node = (id, name, type, typeVersion, x, parameters, extra = {}) => ({
	id,
	name,
	type,
	typeVersion,
	position: [x, 300],
	parameters,
	...extra,
});

/** Webhook -> Split Out -> Batch Prepare -> LLM Batch Call -> Batch Report -> Respond. */
export function queueWorkflow({
	rpm,
	tpm,
	concurrency,
	fallbackShare = 33,
	id = WORKFLOW_ID,
	webhookPath = WEBHOOK_PATH,
}) {
	return {
		id,
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
				{ httpMethod: 'POST', path: webhookPath, responseMode: 'responseNode', options: {} },
				{ webhookId: `${id}-hook` },
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
					concurrency,
					requestsPerMinute: rpm,
					tokensPerMinute: tpm,
					shareLimitsThrough: 'redis',
					redisUnavailable: 'fallback',
					redisFallbackShare: fallbackShare,
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

/** The three credentials in `n8n import:credentials` format; `limits` is the Redis for shared limits. */
export function queueCredentials(sandboxUrl, limits, pg) {
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
			data: { host: limits.host, port: limits.port, password: '', database: 2, tls: false },
		},
		{
			id: CREDENTIALS.postgres,
			name: 'Queue ledger',
			type: 'llmBatchPostgresApi',
			data: postgresCredentialData(pg),
		},
	].map((c) => ({ ...c, createdAt: now, updatedAt: now }));
}

export function records(job, n) {
	return Array.from({ length: n }, (_, i) => ({
		id: `${job}-${i}`,
		text: `Ticket ${i} of ${job}: the export button does nothing.`,
	}));
}

/** POSTs one batch to the webhook (as a user's system would); resolves with the status and report. */
export async function postBatch(baseUrl, job, n, timeoutMs = 600_000, webhookPath = WEBHOOK_PATH) {
	const res = await fetch(`${baseUrl}/webhook/${webhookPath}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ job, records: records(job, n) }),
		signal: AbortSignal.timeout(timeoutMs),
	});
	const body = await res.text();
	let report;
	try {
		report = JSON.parse(body);
	} catch {
		report = undefined;
	}
	return { status: res.status, report, body };
}

/** Which workers ran an execution, from their logs ("Worker started execution 12 (job 3)"). */
export function executionsByWorker(workers) {
	const out = {};
	for (const w of workers)
		out[w.name] = [...w.output().matchAll(/started execution (\d+)/gi)].map((m) => m[1]);
	return out;
}

export const BIG_JOB_HOOKS = { start: 'llm-batch-big-start', chunk: 'llm-batch-chunk' };

/**
 * Example 05 made runnable by the bench and the e2e test: a webhook starts the job with
 * `{ job, n }`; the starting execution emits only page descriptors, each chunk execution
 * (main's webhook, so queue mode spreads them) generates its own page by offset, as a chunk
 * would read a table page, and the job's report is POSTed to `reportUrl`.
 */
export function bigJobWorkflow({ baseUrl, reportUrl, rpm, chunkSize }) {
	const wf = JSON.parse(
		readFileSync(path.join(REPO_ROOT, 'examples', '05-big-job-chunks.json'), 'utf8'),
	);
	wf.id = 'llmBatchBigJobBench';
	wf.nodes = wf.nodes.filter((n) => n.type !== 'n8n-nodes-base.stickyNote');
	const byName = (name) => {
		const node = wf.nodes.find((n) => n.name === name);
		if (!node) throw new Error(`example 05 has no node "${name}"`);
		return node;
	};
	const start = byName('Start job');
	Object.assign(start, {
		type: 'n8n-nodes-base.webhook',
		typeVersion: 2,
		webhookId: 'c6f0b2a4-7e55-4c1e-8d2b-5a9e3f1d0b77',
		parameters: {
			httpMethod: 'POST',
			path: BIG_JOB_HOOKS.start,
			responseMode: 'onReceived',
			options: {},
		},
	});
	// The example's page planner with the job name and size from the request.
	const pages = byName('Job pages');
	pages.parameters.jsCode = pages.parameters.jsCode
		.replace(/const job = .*;/, 'const job = $input.first().json.body.job;')
		.replace(/const total = .*;/, 'const total = $input.first().json.body.n;')
		.replace(/const chunkSize = .*;/, `const chunkSize = ${chunkSize};`);
	if (!pages.parameters.jsCode.includes('body.n'))
		throw new Error('example 05: Job pages no longer sets total');
	byName('One execution per chunk').parameters.url = `${baseUrl}/webhook/${BIG_JOB_HOOKS.chunk}`;
	const call = byName('LLM Batch Call');
	Object.assign(call.parameters, { requestsPerMinute: rpm, tokensPerMinute: 100_000_000 });
	call.credentials = {
		llmBatchOpenAiApi: { id: 'queueSandbox', name: 'Queue sandbox' },
		llmBatchRedisApi: { id: 'queueRedis', name: 'Queue Redis' },
		llmBatchPostgresApi: { id: 'queuePg', name: 'Queue ledger' },
	};
	byName('Job Stats').credentials = {
		llmBatchPostgresApi: { id: 'queuePg', name: 'Queue ledger' },
	};
	wf.nodes.push({
		id: 'sendReport',
		name: 'Send report',
		type: 'n8n-nodes-base.httpRequest',
		typeVersion: 4.2,
		position: [1120, 300],
		parameters: {
			method: 'POST',
			url: reportUrl,
			sendBody: true,
			specifyBody: 'json',
			jsonBody: '={{ JSON.stringify($json) }}',
			options: {},
		},
	});
	wf.connections['Batch Report'] = { main: [[{ node: 'Send report', type: 'main', index: 0 }]] };
	return wf;
}

export const STATUS_PAGE_HOOKS = {
	page: 'llm-batch-status',
	json: 'llm-batch-status-json',
	floor: 'llm-batch-status-floor',
};

/**
 * For a status instance: example 08 as shipped (GET `llm-batch-status?job=` → Job Status → the
 * HTML page), and the same workflow answering JSON (Format = JSON, as example 08's note offers
 * for a dashboard or a script) with the job's size from `?total=`, for numbers a bench can check.
 */
export function statusPageWorkflows() {
	const page = JSON.parse(
		readFileSync(path.join(REPO_ROOT, 'examples', '08-job-status-page.json'), 'utf8'),
	);
	const json = structuredClone(page);
	json.id = `${page.id}Json`;
	json.name = `${page.name} (JSON)`;
	json.nodes = json.nodes.filter((n) => n.type !== 'n8n-nodes-base.stickyNote');
	for (const n of json.nodes) {
		if (n.type === 'n8n-nodes-base.webhook') {
			n.parameters.path = STATUS_PAGE_HOOKS.json;
			n.webhookId = `${page.id}-json-hook`;
		}
		if (n.type === 'n8n-nodes-llm-batch.batchLedger')
			Object.assign(n.parameters, {
				format: 'json',
				expectedTotal: '={{ Number($json.query.total || 0) }}',
			});
		if (n.type === 'n8n-nodes-base.respondToWebhook')
			n.parameters = {
				respondWith: 'json',
				responseBody: '={{ JSON.stringify($json) }}',
				options: {},
			};
	}
	return [page, json, floorWorkflow()];
}

/**
 * Example 08's shape without Job Status (GET webhook → Respond to Webhook with a constant): what
 * n8n itself costs per poll, so a poll's time splits into n8n's share and the node's.
 */
function floorWorkflow() {
	return {
		id: 'llmBatchStatusFloor',
		name: 'Webhook round trip (no Job Status)',
		settings: { executionOrder: 'v1' },
		nodes: [
			node(
				'hook',
				'Status request',
				'n8n-nodes-base.webhook',
				2,
				0,
				{
					httpMethod: 'GET',
					path: STATUS_PAGE_HOOKS.floor,
					responseMode: 'responseNode',
					options: {},
				},
				{ webhookId: 'llmBatchStatusFloor-hook' },
			),
			node('respond', 'Respond', 'n8n-nodes-base.respondToWebhook', 1.1, 240, {
				respondWith: 'json',
				responseBody: '{"ok":true}',
				options: {},
			}),
		],
		connections: { 'Status request': { main: [[{ node: 'Respond', type: 'main', index: 0 }]] } },
	};
}

/** The ledger credential example 08 names, pointing at the queue topology's PostgreSQL. */
export function statusPageCredentials(pg) {
	const now = new Date().toISOString();
	const page = JSON.parse(
		readFileSync(path.join(REPO_ROOT, 'examples', '08-job-status-page.json'), 'utf8'),
	);
	const ref = page.nodes.find((n) => n.credentials?.llmBatchPostgresApi).credentials
		.llmBatchPostgresApi;
	return [
		{
			id: ref.id,
			name: ref.name,
			type: 'llmBatchPostgresApi',
			data: postgresCredentialData(pg),
			createdAt: now,
			updatedAt: now,
		},
	];
}
