import OpenAI from 'openai';

import { withFiles } from './file-body';
import { onAbort } from '../../abort';
import type { FileBytes } from '../attachments';
import type { ProviderCredentials } from './types';

/**
 * One chat completion over the keep-alive fetch, without the SDK's request pipeline. Why: per
 * request the openai SDK builds and sorts WHATWG headers several times, keeps a per-controller
 * record in a WeakMap and wraps the call in its retry and logging layers — with retries off,
 * none of it does anything for a realtime call, yet at batch rates it was the largest share of
 * what the call node allocated per item, and the share that outlived the young generation grew
 * n8n's heap for the whole execution (`npm run bench:memory-n8n`). What the SDK does that
 * matters is kept, with its own code: the URL and headers it sends, its error classes
 * (`APIError.generate`, so core/call/classify.ts reads the same errors), its reading of the
 * body and of `x-request-id`.
 */
export interface ChatAnswer {
	/** The parsed body (an object for a JSON answer; a string, null or undefined otherwise). */
	readonly data: unknown;
	readonly headers: Pick<Headers, 'get'>;
}

export function openAiChatPoster(
	creds: ProviderCredentials,
	fetchImpl: typeof fetch,
): (
	body: object,
	opts: { timeoutMs: number; signal?: AbortSignal; files?: FileBytes },
) => Promise<ChatAnswer> {
	const url = `${baseUrl(creds)}/chat/completions`;
	const headers: Record<string, string> = {
		accept: 'application/json',
		'content-type': 'application/json',
		authorization: `Bearer ${creds.apiKey}`,
		...(creds.organization ? { 'openai-organization': creds.organization } : {}),
	};
	return async (body, opts) => {
		const cancel = opts.signal;
		if (cancel?.aborted) throw new OpenAI.APIUserAbortError();
		const controller = new AbortController();
		const detach = cancel && onAbort(cancel, () => controller.abort(cancel.reason));
		const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
		try {
			const init = {
				method: 'POST',
				headers,
				body: JSON.stringify(body),
				signal: controller.signal,
			};
			const response = await fetchImpl(url, withFiles(init, opts.files)).catch((e: unknown) =>
				Promise.reject(transportError(e, cancel, controller.signal)),
			);
			if (!response.ok) throw await statusError(response);
			return { data: await readBody(response), headers: response.headers };
		} finally {
			clearTimeout(timer);
			detach?.();
		}
	};
}

/** The SDK's base URL: the credential's, else `OPENAI_BASE_URL`, else OpenAI's. */
function baseUrl(creds: ProviderCredentials): string {
	const base = creds.baseUrl || process.env.OPENAI_BASE_URL || 'https://api.openai.com/v1';
	return base.replace(/\/+$/, '');
}

/** A fetch that threw: canceled, timed out, or the connection (the SDK's classes for each). */
function transportError(e: unknown, cancel: AbortSignal | undefined, own: AbortSignal): Error {
	if (cancel?.aborted) return new OpenAI.APIUserAbortError();
	const text = String(e) + (e && typeof e === 'object' && 'cause' in e ? String(e.cause) : '');
	if (own.aborted || /timed? ?out/i.test(text))
		return Object.assign(new OpenAI.APIConnectionTimeoutError(), { cause: e });
	return new OpenAI.APIConnectionError({ cause: e instanceof Error ? e : undefined });
}

/** A non-2xx answer as the SDK reports it (its `makeStatusError`). */
async function statusError(response: Response): Promise<Error> {
	const text = await response.text().catch((e: unknown) => (e as Error).message);
	let json: unknown;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	const error =
		json && typeof json === 'object' && (json as { error?: unknown }).error == null
			? { error: json }
			: json;
	return OpenAI.APIError.generate(
		response.status,
		error as object | undefined,
		json === undefined ? text : undefined,
		response.headers,
	);
}

/** The body as the SDK reads it: JSON by content type (with `_request_id`), else the text. */
async function readBody(response: Response): Promise<unknown> {
	if (response.status === 204) return null;
	const type = response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
	if (!type?.includes('application/json') && !type?.endsWith('+json')) return response.text();
	if (response.headers.get('content-length') === '0') return undefined;
	const text = await response.text();
	if (!text) return undefined;
	const json = JSON.parse(text) as unknown;
	if (json && typeof json === 'object' && !Array.isArray(json))
		Object.defineProperty(json, '_request_id', {
			value: response.headers.get('x-request-id'),
			enumerable: false,
		});
	return json;
}
