/**
 * The batch APIs' routes: OpenAI files and batches, Anthropic message batches (create,
 * list, get, cancel, results). Every route asks for the server's API key first.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { sendJson } from '../http';
import { errorAnswer } from '../protocol-errors';
import { createAnthropicBatch, createOpenAiBatch } from './create';
import { routeGemini } from './gemini';
import { createFile, sendFile } from './files';
import { anthropicBatchObject, openAiBatchObject } from './objects';
import { phase } from './phase';
import { withFaults } from './result-faults';
import { resultLines, streamLines } from './results';
import type { BatchStore } from './store';
import type { Provider } from './types';

type Work = Promise<void> | void;

export interface BatchRequest {
	store: BatchStore;
	method: string;
	path: string;
	req: IncomingMessage;
	res: ServerResponse;
}

export function routeBatch(
	store: BatchStore,
	method: string,
	path: string,
	req: IncomingMessage,
	res: ServerResponse,
): Work {
	const provider: Provider = path.startsWith('/v1/messages/')
		? 'anthropic'
		: /^\/(upload\/|download\/)?v1beta\//.test(path)
			? 'gemini'
			: 'openai';
	if (!store.deps.authorized(req)) {
		req.resume();
		const e = errorAnswer(provider, 'auth', 'invalid api key', 'req_sbx');
		return sendJson(res, e.status, e.body);
	}
	const r = { store, method, path, req, res };
	const found =
		provider === 'openai'
			? routeOpenAi(r)
			: provider === 'gemini'
				? routeGemini(r)
				: routeAnthropic(r);
	if (found !== false) return found;
	const e = errorAnswer(provider, 'not_found', `No such object: ${path}`, 'req_sbx');
	sendJson(res, e.status, e.body);
}

/** false when no OpenAI route matches. */
function routeOpenAi({ store, method, path, req, res }: BatchRequest): Work | false {
	if (method === 'POST' && path === '/v1/files') return createFile(store, req, res);
	let m = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path);
	if (m && method === 'GET') {
		const f = store.files.get(decodeURIComponent(m[1]));
		return f ? sendFile(store, f, Boolean(m[2]), res) : false;
	}
	if (method === 'POST' && path === '/v1/batches') return createOpenAiBatch(store, req, res);
	if (method === 'GET' && path === '/v1/batches') {
		const data = listed(store, 'openai').map((b) => openAiBatchObject(store, b));
		return sendJson(res, 200, { object: 'list', ...page(data) });
	}
	m = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
	if (!m) return false;
	const b = store.batches.get(decodeURIComponent(m[1]));
	if (!b || b.provider !== 'openai') return false;
	if (m[2] && method === 'POST') {
		req.resume();
		store.cancel(b, phase(b, store.deps.now()).ended);
		return sendJson(res, 200, openAiBatchObject(store, b));
	}
	if (method === 'GET') return sendJson(res, 200, openAiBatchObject(store, b));
	return false;
}

/** false when no Anthropic route matches. */
function routeAnthropic({ store, method, path, req, res }: BatchRequest): Work | false {
	if (method === 'POST' && path === '/v1/messages/batches')
		return createAnthropicBatch(store, req, res);
	if (method === 'GET' && path === '/v1/messages/batches') {
		const data = listed(store, 'anthropic').map((b) => anthropicBatchObject(store, b));
		return sendJson(res, 200, page(data));
	}
	const m = /^\/v1\/messages\/batches\/([^/]+)(\/cancel|\/results)?$/.exec(path);
	if (!m) return false;
	const b = store.batches.get(decodeURIComponent(m[1]));
	if (!b || b.provider !== 'anthropic') return false;
	if (m[2] === '/cancel' && method === 'POST') {
		req.resume();
		store.cancel(b, phase(b, store.deps.now()).ended);
		return sendJson(res, 200, anthropicBatchObject(store, b));
	}
	if (m[2] === '/results' && method === 'GET') {
		if (!phase(b, store.deps.now()).ended) {
			const message = `Batch ${b.id} has not ended yet.`;
			const e = errorAnswer('anthropic', 'invalid_request', message, 'req_sbx');
			return sendJson(res, e.status, e.body);
		}
		const lines = withFaults('anthropic', store.o.resultFaults, resultLines(b, store.deps.now));
		return streamLines(res, lines, 'application/binary');
	}
	if (!m[2] && method === 'GET') return sendJson(res, 200, anthropicBatchObject(store, b));
	return false;
}

/** A provider's batches, newest first. */
function listed(store: BatchStore, provider: Provider) {
	return [...store.batches.values()].filter((b) => b.provider === provider).reverse();
}

function page(data: Array<Record<string, unknown>>) {
	return {
		data,
		first_id: data[0]?.id ?? null,
		last_id: data.at(-1)?.id ?? null,
		has_more: false,
	};
}
