/**
 * The taxonomy's one error class and the few errors every stage builds the same way; what a
 * thrown provider error means is read by classify.ts.
 */
import {
	RETRYABLE_CODES,
	type ErrorCode,
	type Issue,
	type ItemError,
	type ProviderName,
} from '../types';

/** The one error class core throws: a machine `code` from the taxonomy plus what a retry needs. */
export class LlmBatchError extends Error {
	readonly code: ErrorCode;
	readonly retryable: boolean;
	readonly status?: number;
	readonly provider?: ProviderName;
	readonly requestId?: string;
	/** From `retry-after-ms` / `retry-after`, when the provider sent one. */
	readonly retryAfterMs?: number;
	readonly issues?: Issue[];

	constructor(
		code: ErrorCode,
		message: string,
		extra: {
			status?: number;
			provider?: ProviderName;
			requestId?: string;
			retryAfterMs?: number;
			issues?: Issue[];
			retryable?: boolean;
			cause?: unknown;
		} = {},
	) {
		super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
		this.name = 'LlmBatchError';
		this.code = code;
		this.retryable = extra.retryable ?? RETRYABLE_CODES.has(code);
		this.status = extra.status;
		this.provider = extra.provider;
		this.requestId = extra.requestId;
		this.retryAfterMs = extra.retryAfterMs;
		this.issues = extra.issues;
	}

	toItemError(attempts: number): ItemError {
		const out: ItemError = {
			code: this.code,
			message: this.message,
			retryable: this.retryable,
			attempts,
		};
		if (this.status !== undefined) out.status = this.status;
		if (this.provider !== undefined) out.provider = this.provider;
		if (this.requestId !== undefined) out.requestId = this.requestId;
		if (this.issues !== undefined) out.issues = this.issues;
		return out;
	}
}

/** A 200 whose body is empty (or not an object): the provider's fault, retried. */
export function emptyBody(provider: ProviderName): LlmBatchError {
	return new LlmBatchError('server_error', 'The provider answered with an empty body', {
		provider,
	});
}

/**
 * A model the provider does not serve (any more): OpenAI's 404 `model_not_found` / "The model
 * … does not exist", Anthropic's 404 `not_found_error` "model: …". Every further request to
 * that model fails the same way, so it stops the model's run (and hands over to a fallback).
 */
export const MODEL_UNKNOWN =
	/model_not_found|not_found_error.*model|model.*(does not exist|not found|unknown)|unknown model|invalid model/i;

/** The same error, saying which model is gone and what to do. */
export function modelGone(error: LlmBatchError, model: string): LlmBatchError {
	return new LlmBatchError(
		'model_not_found',
		`The provider does not serve the model "${model}" (${error.message}): enter a model it serves; a Fallback Model, when set, takes its items over`,
		{
			status: error.status,
			provider: error.provider,
			requestId: error.requestId,
			cause: error.cause,
		},
	);
}

const STOP_CODES: ReadonlySet<ErrorCode> = new Set(['auth', 'quota_exhausted', 'model_not_found']);

/** Codes after which calling on only spends money or hammers a dead credential. */
export function stopsTheRun(code: ErrorCode): boolean {
	return STOP_CODES.has(code);
}
