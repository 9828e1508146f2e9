/**
 * The sandbox's own routes: GET /sandbox/stats[?windowMs=N], POST /sandbox/reset,
 * POST /sandbox/config (JSON options; null lifts a limit).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { readBody, send, sendJson } from './http';
import type { Sandbox, SandboxOptions } from './options';
import { publicSettings } from './settings';
import type { SandboxState } from './state';

export async function handleControl(
	state: SandboxState,
	api: Sandbox,
	path: string,
	query: URLSearchParams,
	req: IncomingMessage,
	res: ServerResponse,
): Promise<void> {
	if (path === '/sandbox/stats' && req.method === 'GET')
		return sendStats(state, res, Number(query.get('windowMs') ?? 60_000));
	if (path === '/sandbox/reset' && req.method === 'POST') {
		await readBody(req);
		api.reset();
		return send(res, 200, '{"ok":true}', {});
	}
	if (path === '/sandbox/config' && req.method === 'POST') return configure(state, api, req, res);
	return sendJson(res, 404, {
		error: {
			message: `Unknown sandbox route ${req.method} ${path}`,
			type: 'invalid_request_error',
		},
	});
}

function sendStats(state: SandboxState, res: ServerResponse, windowMs: number): void {
	const { maxRequestsPerWindow, maxTokensPerWindow, ...plain } = state.stats.snapshot();
	sendJson(res, 200, {
		...plain,
		windowMs,
		maxRequestsPerWindow: maxRequestsPerWindow(windowMs),
		maxTokensPerWindow: maxTokensPerWindow(windowMs),
	});
}

async function configure(
	state: SandboxState,
	api: Sandbox,
	req: IncomingMessage,
	res: ServerResponse,
): Promise<void> {
	const raw = (await readBody(req)) ?? '';
	try {
		// JSON has no Infinity: null (or "Infinity") lifts a limit.
		const o = JSON.parse(raw || '{}', (_k, v) =>
			v === null || v === 'Infinity' ? Infinity : v,
		) as Partial<SandboxOptions>;
		if ('apiKeys' in o && !Array.isArray(o.apiKeys)) o.apiKeys = undefined;
		delete o.now;
		api.configure(o);
	} catch (e) {
		return sendJson(res, 400, {
			error: { message: (e as Error).message, type: 'invalid_request_error' },
		});
	}
	sendJson(res, 200, publicSettings(state.settings));
}
