/**
 * The sandbox's HTTP server: each request goes to the LLM calls, the model list, the batch
 * APIs or the sandbox's own routes; an unexpected error answers 500 rather than hanging.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import type { BatchSandbox } from './batch';
import { handleCall } from './call';
import { handleControl } from './control';
import { sendJson } from './http';
import { handleGeminiModels, handleModels } from './models-route';
import type { Sandbox } from './options';
import type { SandboxState } from './state';

export function createSandboxServer(
	state: SandboxState,
	batchApi: BatchSandbox,
	api: () => Sandbox,
): Server {
	const server = createServer({ keepAlive: true }, (req, res) => {
		const work = route(state, batchApi, api, req, res);
		work?.catch((e: unknown) => {
			if (!res.headersSent && !res.destroyed)
				sendJson(res, 500, {
					error: { message: `sandbox: ${(e as Error).message}`, type: 'server_error' },
				});
		});
	});
	// Longer than the SDKs' idle keep-alive so a reused socket is not closed under a request;
	// no request timeout so a 'hang' fault holds as long as it is told to.
	server.keepAliveTimeout = 30_000;
	server.headersTimeout = 31_000;
	server.requestTimeout = 0;
	server.on('connection', () => state.stats.connections++);
	return server;
}

/** Gemini's realtime call: `POST /v1beta/models/{model}:generateContent`. */
const GEMINI_CALL = /^\/v1beta\/models\/([^/:]+):generateContent$/;

function route(
	state: SandboxState,
	batchApi: BatchSandbox,
	api: () => Sandbox,
	req: IncomingMessage,
	res: ServerResponse,
): Promise<void> | void {
	const q = req.url?.indexOf('?') ?? -1;
	const path = q >= 0 ? req.url!.slice(0, q) : (req.url ?? '/');
	if (req.method === 'POST' && path === '/v1/chat/completions')
		return handleCall(state, 'openai', req, res);
	if (req.method === 'POST' && path === '/v1/messages')
		return handleCall(state, 'anthropic', req, res);
	if (req.method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/')))
		return handleModels(state, path, req, res);
	const gemini = GEMINI_CALL.exec(path);
	if (req.method === 'POST' && gemini)
		return handleCall(state, 'gemini', req, res, decodeURIComponent(gemini[1]));
	if (req.method === 'GET' && path === '/v1beta/models') return handleGeminiModels(state, req, res);
	if (batchApi.handle(req.method ?? 'GET', path, req, res)) return;
	if (path.startsWith('/sandbox/')) {
		const query = new URLSearchParams(q >= 0 ? req.url!.slice(q + 1) : '');
		return handleControl(state, api(), path, query, req, res);
	}
	req.resume();
	sendJson(res, 404, {
		error: {
			message: `Unknown route ${req.method} ${path}`,
			type: 'invalid_request_error',
			code: 'not_found',
		},
	});
}
