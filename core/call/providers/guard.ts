import { redactSecrets } from '../../redact';
import type { ItemError, ProviderName } from '../../types';
import { classifyError } from '../classify';
import { LlmBatchError } from '../errors';
import { GeminiHttpError } from './clients';
import { geminiError } from './gemini-errors';
import type { ProviderCredentials } from './types';

/**
 * The one redaction guard at the provider boundary, for realtime calls and batch jobs alike:
 * whatever a provider call throws leaves it classified (core/call/errors) and redacted of the
 * credential's secrets, with the raw SDK error (body, headers) dropped; whatever text a provider
 * sends back about a request (message, request ID, issues) is redacted the same way — so nothing
 * downstream can copy a secret into an item, a hint, a log line or a store.
 */
export interface SecretGuard {
	/** `text` without the credential's secrets or key-shaped strings. */
	clean(text: string): string;
	/** A thrown provider error, classified and redacted. */
	error(error: unknown, provider: ProviderName, now: number): LlmBatchError;
	/** A provider's per-request error, redacted. */
	itemError<E extends ItemError>(e: E): E;
}

/** The secrets a credential holds (an empty organization is no secret). */
export function credentialSecrets(creds: ProviderCredentials): string[] {
	return [creds.apiKey, creds.organization ?? ''];
}

export function secretGuard(secrets: readonly string[]): SecretGuard {
	const clean = (t: string): string => redactSecrets(t, secrets);
	return {
		clean,
		error: (error, provider, now) => redacted(classified(error, provider, now), secrets),
		itemError: (e) => ({
			...e,
			message: clean(e.message),
			...(e.requestId === undefined ? {} : { requestId: clean(e.requestId) }),
			...(e.issues === undefined
				? {}
				: { issues: e.issues.map((i) => ({ ...i, message: clean(i.message) })) }),
		}),
	};
}

/** Into the taxonomy: Gemini's REST answers by their google.rpc.Status body, the SDKs' errors by shape. */
function classified(error: unknown, provider: ProviderName, now: number): LlmBatchError {
	if (error instanceof GeminiHttpError)
		return geminiError(error.status, error.body, error.headers, now);
	return classifyError(error, provider, now);
}

/** The same error without the secrets (and without the raw SDK error as its cause). */
export function redacted(e: LlmBatchError, secrets: readonly string[]): LlmBatchError {
	return new LlmBatchError(e.code, redactSecrets(e.message, secrets), {
		status: e.status,
		provider: e.provider,
		requestId: e.requestId === undefined ? undefined : redactSecrets(e.requestId, secrets),
		retryAfterMs: e.retryAfterMs,
		retryable: e.retryable,
		issues: e.issues?.map((i) => ({ ...i, message: redactSecrets(i.message, secrets) })),
	});
}
