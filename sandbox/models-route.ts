/** GET /v1/models and /v1/models/<id>, in the dialect the request's headers speak. */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { apiKeyOf, keyAccepted, send } from './http';
import { geminiModelList, modelEntry, modelList } from './protocol-answers';
import { errorAnswer, MESSAGES } from './protocol-errors';
import type { SandboxState } from './state';

export function handleModels(
	state: SandboxState,
	path: string,
	req: IncomingMessage,
	res: ServerResponse,
): void {
	const anthropic =
		req.headers['x-api-key'] !== undefined || req.headers['anthropic-version'] !== undefined;
	const requestId = `req_${state.nextId()}`;
	const headers: Record<string, string> = {
		[anthropic ? 'request-id' : 'x-request-id']: requestId,
	};
	if (!keyAccepted(apiKeyOf(req), state.settings.apiKeys)) {
		const { status, body } = errorAnswer(
			anthropic ? 'anthropic' : 'openai',
			'auth',
			anthropic ? MESSAGES.authAnthropic : MESSAGES.authOpenAi,
			requestId,
		);
		return send(res, status, body, headers);
	}
	const created = Math.floor(Date.now() / 1000);
	if (path === '/v1/models') return send(res, 200, modelList(created), headers);
	return send(
		res,
		200,
		JSON.stringify(modelEntry(decodeURIComponent(path.slice('/v1/models/'.length)), created)),
		headers,
	);
}

/** GET /v1beta/models: Gemini's list (its credential test). */
export function handleGeminiModels(
	state: SandboxState,
	req: IncomingMessage,
	res: ServerResponse,
): void {
	const headers: Record<string, string> = { 'x-goog-request-id': `req_${state.nextId()}` };
	if (!keyAccepted(apiKeyOf(req), state.settings.apiKeys)) {
		const { status, body } = errorAnswer('gemini', 'auth', MESSAGES.authGemini, '');
		return send(res, status, body, headers);
	}
	send(res, 200, geminiModelList(), headers);
}
