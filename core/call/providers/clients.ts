import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import type { FileBytes } from '../attachments';
import { withFiles } from './file-body';
import type { ProviderCredentials } from './types';

/**
 * The one place an SDK client is built, for realtime calls and batch jobs alike. Every client
 * has SDK retries off — the runner (and the batch job's own resend rule) is the one retry layer,
 * and SDK retries would multiply attempts — and takes its transport from the caller: realtime
 * calls and the batch API's streamed results need different fetches.
 */
export function openAiClient(creds: ProviderCredentials, fetch: typeof globalThis.fetch): OpenAI {
	return new OpenAI({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		organization: creds.organization || undefined,
		maxRetries: 0,
		fetch,
	});
}

export function anthropicClient(
	creds: ProviderCredentials,
	fetch: typeof globalThis.fetch,
): Anthropic {
	return new Anthropic({
		apiKey: creds.apiKey,
		baseURL: creds.baseUrl || undefined,
		maxRetries: 0,
		fetch,
	});
}

/** Gemini's REST root when the credential names none. */
export const GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com';

/** The API version every Gemini path is under. */
export const GEMINI_API_VERSION = 'v1beta';

export interface GeminiAnswer<T> {
	status: number;
	data: T;
	headers: Headers;
}

/**
 * Gemini's client: plain JSON over REST on the caller's fetch, not `@google/genai` — the SDK
 * brings its own transport, retries and auth layers (and a Vertex mode) around the same few
 * JSON calls, while the package needs the keep-alive fetch of realtime calls, the streamed
 * uploads of the batch API, and this file's one place for a client. A non-2xx answer rejects
 * with its status and JSON body (`GeminiHttpError`), classified by the provider boundary.
 */
export interface GeminiClient {
	/** The REST root (scheme, host, path prefix), without the API version. */
	readonly root: string;
	/** The credential's auth header. */
	readonly auth: Record<string, string>;
	readonly fetch: typeof globalThis.fetch;
	json<T>(
		method: 'GET' | 'POST' | 'DELETE',
		path: string,
		body?: unknown,
		opts?: GeminiSendOptions,
	): Promise<GeminiAnswer<T>>;
}

export interface GeminiSendOptions {
	signal?: AbortSignal;
	headers?: Record<string, string>;
	/** The files behind the body's markers, written in by the fetch (./file-body.ts). */
	files?: FileBytes;
}

/** A Gemini answer that is not 2xx, as read (the body parsed when it is JSON). */
export class GeminiHttpError extends Error {
	constructor(
		readonly status: number,
		readonly body: unknown,
		readonly headers: Headers,
	) {
		super(`Gemini answered ${status}`);
		this.name = 'GeminiHttpError';
	}
}

function jsonOrText(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return text;
	}
}

export function geminiClient(
	creds: ProviderCredentials,
	fetch: typeof globalThis.fetch,
): GeminiClient {
	// A Base URL typed with the version (as Google's docs print it) means the same root.
	const root = (creds.baseUrl || GEMINI_BASE_URL).replace(/\/+$/, '').replace(/\/v1(beta)?$/, '');
	const auth = { 'x-goog-api-key': creds.apiKey };
	return {
		root,
		auth,
		fetch,
		async json<T>(
			method: 'GET' | 'POST' | 'DELETE',
			path: string,
			body?: unknown,
			opts: GeminiSendOptions = {},
		): Promise<GeminiAnswer<T>> {
			const res = await fetch(
				`${root}${path}`,
				withFiles(
					{
						method,
						headers: {
							...auth,
							accept: 'application/json',
							...(body === undefined ? {} : { 'content-type': 'application/json' }),
							...opts.headers,
						},
						...(body === undefined ? {} : { body: JSON.stringify(body) }),
						...(opts.signal ? { signal: opts.signal } : {}),
					},
					opts.files,
				),
			);
			const text = await res.text();
			if (!res.ok)
				return Promise.reject(new GeminiHttpError(res.status, jsonOrText(text), res.headers));
			// A cut-off 200 rejects with the SyntaxError: the shared mapping calls it the provider's fault.
			return {
				status: res.status,
				data: (text === '' ? {} : JSON.parse(text)) as T,
				headers: res.headers,
			};
		},
	};
}
