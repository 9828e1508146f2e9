import { credentialSecrets, secretGuard } from '../../call/providers/guard';
import type { ProviderCredentials } from '../../call/providers/types';
import type { ProviderName } from '../../types';
import type { BatchApi, BatchResultLine, BatchStatus } from '../types';
import { createAnthropicBatchApi } from './anthropic';
import { createGeminiBatchApi } from './gemini';
import { createOpenAiBatchApi } from './openai';

export function createBatchApi(
	provider: ProviderName,
	creds: ProviderCredentials,
	fetchImpl?: typeof fetch,
): BatchApi {
	const api =
		provider === 'anthropic'
			? createAnthropicBatchApi(creds, fetchImpl)
			: provider === 'gemini'
				? createGeminiBatchApi(creds, fetchImpl)
				: createOpenAiBatchApi(creds, fetchImpl);
	return guardedBatchApi(api, credentialSecrets(creds));
}

/**
 * The batch API's boundary, through the one redaction guard LLM Batch Call's `guarded` uses
 * (core/call/providers/guard): whatever a call throws leaves it classified and redacted of the
 * credential's secrets (the raw SDK error, with its body and headers, dropped); what the
 * provider says about a batch (a refused batch's reasons, its status word) and about a result
 * line (the line's error message, request ID and issues; the request ID of an answer) is
 * redacted the same way — so no secret a provider echoes back reaches an item, a hint, a log
 * line or the ledger.
 */
export function guardedBatchApi(api: BatchApi, secrets: readonly string[]): BatchApi {
	const guard = secretGuard(secrets);
	const clean = guard.clean;
	const fail = (e: unknown): never => {
		throw guard.error(e, api.provider, Date.now());
	};
	const status = (b: BatchStatus): BatchStatus => ({
		...b,
		providerStatus: clean(b.providerStatus),
		...(b.failure === undefined ? {} : { failure: clean(b.failure) }),
		...(b.failureCode === undefined ? {} : { failureCode: clean(b.failureCode) }),
	});
	const line = (l: BatchResultLine): BatchResultLine => {
		if (!l.ok) return { customId: l.customId, ok: false, error: guard.itemError(l.error) };
		// The answer object is the line's own: its request ID cleaned in place, not copied.
		if (l.response.requestId !== undefined) l.response.requestId = clean(l.response.requestId);
		return l;
	};
	return {
		provider: api.provider,
		requestLine: (customId, request) => api.requestLine(customId, request),
		create: (lines, metadata) => api.create(lines, metadata).then(status, fail),
		retrieve: (id) => api.retrieve(id).then(status, fail),
		findSubmission: (key, o) =>
			api
				.findSubmission(key, o)
				.then((f) => ({ byKey: f.byKey, batches: f.batches.map(status) }), fail),
		cancel: (id) => api.cancel(id).then(status, fail),
		async *results(id, model) {
			const pages = api.results(id, model)[Symbol.asyncIterator]();
			let done = false;
			try {
				for (;;) {
					let next: IteratorResult<BatchResultLine[]>;
					try {
						next = await pages.next();
					} catch (e) {
						done = true;
						return fail(e);
					}
					if (next.done) {
						done = true;
						return;
					}
					// The page is the provider reader's own array: its lines are cleaned in place.
					const page = next.value;
					for (let i = 0; i < page.length; i++) page[i] = line(page[i]);
					yield page;
				}
			} finally {
				// The caller stopped early: the provider's stream is closed too.
				if (!done) await pages.return?.();
			}
		},
	};
}
