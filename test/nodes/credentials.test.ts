/**
 * The credentials' `test` requests, resolved the way n8n's credential tester does
 * (expressions over `$credentials`, then the generic `authenticate` headers), sent to the
 * sandbox with only one key accepted: the right key passes, a wrong one is refused.
 */
import {
	NodeHelpers,
	Workflow,
	type ICredentialType,
	type INode,
	type INodeType,
} from 'n8n-workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LlmBatchAnthropicApi } from '../../credentials/LlmBatchAnthropicApi.credentials';
import { LlmBatchGeminiApi } from '../../credentials/LlmBatchGeminiApi.credentials';
import { LlmBatchOpenAiApi } from '../../credentials/LlmBatchOpenAiApi.credentials';
import { PassThroughNode } from '../../scripts/lib/harness';
import { startSandbox, type Sandbox } from '../../sandbox/server';

const node: INode = {
	id: '1',
	name: 'N',
	type: 'test.passThrough',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};
const workflow = new Workflow({
	nodes: [node],
	connections: {},
	active: false,
	nodeTypes: {
		getByName: () => new PassThroughNode() as INodeType,
		getByNameAndVersion: (_t: string, v?: number) =>
			NodeHelpers.getVersionedNodeType(new PassThroughNode() as INodeType, v) as INodeType,
		getKnownTypes: () => ({}),
	},
});

function resolve(value: string, credentials: Record<string, string>): string {
	return String(
		workflow.expression.getSimpleParameterValue(
			node,
			value,
			'internal',
			{ $credentials: credentials },
			undefined,
			'',
		),
	);
}

/** What n8n sends for the credential's test request. */
async function runTest(
	type: ICredentialType,
	credentials: Record<string, string>,
): Promise<number> {
	const req = type.test!.request;
	const base = resolve(req.baseURL!, credentials);
	const headers: Record<string, string> = {};
	const auth = type.authenticate as { properties: { headers: Record<string, string> } };
	for (const [k, v] of Object.entries(auth.properties.headers))
		headers[k] = v.startsWith('=') ? resolve(v, credentials) : v;
	const res = await fetch(`${base}${req.url}`, { method: req.method ?? 'GET', headers });
	return res.status;
}

describe('credential test requests', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ apiKeys: ['the-right-key'] });
	});
	afterAll(async () => sandbox.close());

	it('OpenAI-compatible: GET /models with the bearer key; a trailing slash in the base URL is fine', async () => {
		const type = new LlmBatchOpenAiApi();
		expect(
			await runTest(type, {
				apiKey: 'the-right-key',
				baseUrl: `${sandbox.url}/v1/`,
				organization: '',
			}),
		).toBe(200);
		expect(
			await runTest(type, {
				apiKey: 'a-wrong-key',
				baseUrl: `${sandbox.url}/v1`,
				organization: '',
			}),
		).toBe(401);
	});

	it('Anthropic: GET /v1/models with x-api-key', async () => {
		const type = new LlmBatchAnthropicApi();
		expect(await runTest(type, { apiKey: 'the-right-key', baseUrl: sandbox.url })).toBe(200);
		expect(await runTest(type, { apiKey: 'a-wrong-key', baseUrl: sandbox.url })).toBe(401);
	});

	it('Google Gemini: GET /v1beta/models with x-goog-api-key (a wrong key is a 400, as Gemini answers it)', async () => {
		const type = new LlmBatchGeminiApi();
		expect(await runTest(type, { apiKey: 'the-right-key', baseUrl: sandbox.url })).toBe(200);
		expect(
			await runTest(type, { apiKey: 'the-right-key', baseUrl: `${sandbox.url}/v1beta/` }),
		).toBe(200);
		expect(await runTest(type, { apiKey: 'a-wrong-key', baseUrl: sandbox.url })).toBe(400);
	});

	it('keeps the key out of everything but the auth header', () => {
		for (const type of [
			new LlmBatchOpenAiApi(),
			new LlmBatchAnthropicApi(),
			new LlmBatchGeminiApi(),
		]) {
			const key = type.properties.find((p) => p.name === 'apiKey');
			expect(key?.typeOptions?.password).toBe(true);
			expect(JSON.stringify(type.test)).not.toContain('apiKey');
		}
	});
});
