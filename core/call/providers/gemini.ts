import { onAbort } from '../../abort';
import { emptyBody, LlmBatchError } from '../errors';
import { readRateLimit } from '../rate-headers';
import { GEMINI_API_VERSION, geminiClient } from './clients';
import { geminiFileParts, loadFileMarkers } from '../attachments';
import { geminiRequestBody, readGeminiResponse } from './gemini-bodies';
import { fileBodyFetch } from './file-body';
import { nodeHttpFetch } from './http-fetch';
import type {
	CallOptions,
	ChatRequest,
	ChatResponse,
	Provider,
	ProviderCredentials,
} from './types';

/** `models/{model}` as Gemini's paths want it, whichever way the model was typed. */
export function geminiModelPath(model: string): string {
	const name = model.trim().replace(/^models\//, '');
	return `models/${encodeURIComponent(name)}`;
}

/**
 * Google Gemini through its native `generateContent` (why native: ./gemini-bodies.ts).
 * Structured output is `responseJsonSchema` with `responseMimeType: application/json`: the
 * answer is JSON text the runner parses and validates like the others'.
 */
export function createGeminiProvider(
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): Provider {
	const client = geminiClient(creds, fetchImpl ? fileBodyFetch(fetchImpl) : nodeHttpFetch);
	return {
		name: 'gemini',
		async complete(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
			const path = `/${GEMINI_API_VERSION}/${geminiModelPath(req.model)}:generateContent`;
			// Read now, one request's files at a time: a run never holds every item's files. They
			// go beside the body, which is built around markers (./file-body.ts says why).
			const { files, bytes } = await loadFileMarkers(req.attachments);
			const body = geminiRequestBody(req, files.length > 0 ? geminiFileParts(files) : undefined);
			const { data, headers } = await withTimeout(opts, (signal) =>
				client.json<unknown>('POST', path, body, { signal, files: bytes }),
			);
			if (!data || typeof data !== 'object') throw emptyBody('gemini');
			return {
				...readGeminiResponse(data, req),
				rateLimit: readRateLimit(headers, (opts.now ?? Date.now)()),
			};
		},
	};
}

/**
 * The request under the run's timeout and cancel signal (the SDK clients do this for the
 * other two): a timeout is `timeout`, a cancel stays an abort (`canceled`).
 */
async function withTimeout<T>(
	opts: CallOptions,
	send: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
	const ctl = new AbortController();
	let timedOut = false;
	const timer = setTimeout(() => {
		timedOut = true;
		ctl.abort();
	}, opts.timeoutMs);
	const detach = opts.signal && onAbort(opts.signal, () => ctl.abort());
	if (opts.signal?.aborted) ctl.abort();
	return await send(ctl.signal)
		.catch((e: unknown) =>
			Promise.reject(
				timedOut
					? new LlmBatchError('timeout', 'No answer within the request timeout', {
							provider: 'gemini',
						})
					: e,
			),
		)
		.finally(() => {
			clearTimeout(timer);
			detach?.();
		});
}
