/**
 * A call's request read and checked in the providers' order: body size, JSON, API key,
 * credit, the dialect's fields, the model. Each refusal is answered here.
 */
import type { IncomingMessage } from 'node:http';

import { answerError, type Exchange } from './exchange';
import { apiKeyOf, keyAccepted, readBody } from './http';
import { parseAnthropic, parseGemini, parseOpenAi, type ParsedCall } from './protocol';
import { MODELS } from './protocol-answers';
import { MESSAGES } from './protocol-errors';
import type { SandboxSettings } from './settings';

export interface CallRequest {
	call: ParsedCall;
	body: Record<string, unknown>;
}

/** The parsed call, or undefined once a refusal was answered (or the client went away). */
export async function readCall(
	settings: SandboxSettings,
	x: Exchange,
	req: IncomingMessage,
	/** Gemini: the model named in the path. */
	pathModel = '',
): Promise<CallRequest | undefined> {
	const body = await readJsonObject(x, req);
	if (!body) return undefined;
	const openai = x.provider === 'openai';
	const gemini = x.provider === 'gemini';
	if (!keyAccepted(apiKeyOf(req), settings.apiKeys))
		return void answerError(
			x,
			'auth',
			openai ? MESSAGES.authOpenAi : gemini ? MESSAGES.authGemini : MESSAGES.authAnthropic,
		);
	if (settings.quotaExhausted)
		return void answerError(
			x,
			'quota',
			openai ? MESSAGES.quotaOpenAi : gemini ? MESSAGES.quotaGemini : MESSAGES.quotaAnthropic,
		);
	const parsed = openai
		? parseOpenAi(body)
		: gemini
			? parseGemini(body, pathModel)
			: parseAnthropic(body);
	if (!parsed.ok) return void answerError(x, 'invalid_request', parsed.message);
	const call = parsed.call;
	if (settings.strictModels && !MODELS.includes(call.model)) {
		const message = openai
			? `The model \`${call.model}\` does not exist or you do not have access to it.`
			: gemini
				? `models/${call.model} is not found for API version v1beta, or is not supported for generateContent.`
				: `model: ${call.model}`;
		return void answerError(x, 'not_found', message, undefined, 'model_not_found');
	}
	return { call, body };
}

async function readJsonObject(
	x: Exchange,
	req: IncomingMessage,
): Promise<Record<string, unknown> | undefined> {
	let raw: string | undefined;
	try {
		raw = await readBody(req);
	} catch {
		// The client went away mid-body; 499 ("client closed request") keeps the counts adding up.
		x.st.status(499);
		return undefined;
	}
	if (raw === undefined) return void answerError(x, 'too_large', 'Request body too large.');
	try {
		const parsed: unknown = JSON.parse(raw);
		if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
			throw new Error('not an object');
		return parsed as Record<string, unknown>;
	} catch {
		return void answerError(
			x,
			'invalid_request',
			'We could not parse the JSON body of your request.',
		);
	}
}
