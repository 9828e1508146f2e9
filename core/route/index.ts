/**
 * Route Failures' policy: which failed item goes back for another try, which is a
 * content-policy refusal, which is dead.
 *
 * The attempt counter lives on the item, under `retry` by default:
 *
 *   retry: { attempts, waitMs, retryAt, history: [{ code, message, at }, ...] }
 *
 * `attempts` counts the trips through the Retry output so far. On Retry the item loses its
 * `error` (so the call node sees a clean input and a later success carries no stale error)
 * and the error moves into `retry.history`. On Dead Letter and Filtered the item keeps
 * `error`, with `error.history` holding every error of the record in order, this one last.
 */
import { DEFAULT_ERROR_FIELD, DEFAULT_RETRY_FIELD } from '../defaults';
import { ERROR_CODES, RETRYABLE_CODES, type ErrorCode, type ItemError } from '../types';
import { deletePath, getPath, setPath, type Json } from '../paths';

export type Route = 'retry' | 'deadLetter' | 'filtered';

export interface RoutePolicy {
	/**
	 * Trips through Retry a record may take; the next failure after that is dead.
	 * @default 3
	 */
	readonly maxRetries: number;
	/** Codes sent back through Retry. @default RETRYABLE_CODES */
	readonly retryCodes: ReadonlySet<ErrorCode>;
	/** Codes sent to Filtered. @default ['content_filter'] */
	readonly filteredCodes: ReadonlySet<ErrorCode>;
	/** Suggested wait before the first retry; doubles per retry. @default 1000 */
	readonly baseDelayMs: number;
	/** @default 60000 */
	readonly maxDelayMs: number;
	/** Where the error is read. @default 'error' */
	readonly errorField: string;
	/** Where the attempt counter and history live. @default 'retry' */
	readonly retryField: string;
}

export const ROUTE_DEFAULTS: RoutePolicy = {
	maxRetries: 3,
	retryCodes: RETRYABLE_CODES,
	filteredCodes: new Set<ErrorCode>(['content_filter']),
	baseDelayMs: 1000,
	maxDelayMs: 60_000,
	errorField: DEFAULT_ERROR_FIELD,
	retryField: DEFAULT_RETRY_FIELD,
};

export interface RetryState {
	attempts: number;
	waitMs: number;
	retryAt: string;
	history: HistoryEntry[];
}

/** `retry` on a Dead Letter item whose retries ran out (the history is in `error.history`). */
export interface ExhaustedState {
	attempts: number;
	exhausted: true;
}

type HistoryEntry = NonNullable<ItemError['history']>[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * The item's error as an `ItemError`. n8n's own error output puts a plain message string in
 * `json.error`, other nodes may use unknown codes: both become a non-retryable
 * `invalid_request` so nothing unknown loops forever.
 */
export function readError(value: unknown): ItemError | undefined {
	if (value === undefined || value === null) return undefined;
	if (typeof value === 'string')
		return { code: 'invalid_request', message: value, retryable: false, attempts: 1 };
	if (typeof value !== 'object')
		return { code: 'invalid_request', message: String(value), retryable: false, attempts: 1 };
	const e = value as Partial<ItemError> & { code?: unknown; message?: unknown };
	const message = typeof e.message === 'string' ? e.message : JSON.stringify(value);
	if (typeof e.code !== 'string' || !KNOWN_CODES.has(e.code)) {
		return {
			...(e as object),
			code: 'invalid_request',
			message: typeof e.code === 'string' ? `${e.code}: ${message}` : message,
			retryable: false,
			attempts: typeof e.attempts === 'number' ? e.attempts : 1,
		} as ItemError;
	}
	return { ...(e as ItemError), message };
}

function readState(json: Json, field: string): Pick<RetryState, 'attempts' | 'history'> {
	const raw = getPath(json, field) as Partial<RetryState> | undefined;
	const attempts =
		raw && typeof raw.attempts === 'number' && raw.attempts >= 0 ? Math.floor(raw.attempts) : 0;
	const history = raw && Array.isArray(raw.history) ? raw.history : [];
	return { attempts, history };
}

/** Suggested wait before retry number `n` (1-based): base * 2^(n-1), capped. */
export function suggestedWait(
	n: number,
	policy: Pick<RoutePolicy, 'baseDelayMs' | 'maxDelayMs'>,
): number {
	return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, n - 1));
}

export interface Routed {
	route: Route;
	json: Json;
}

/** Decides one item's route and returns its new JSON. `now` is epoch ms. */
export function routeItem(json: Json, policy: RoutePolicy, now: number): Routed {
	const at = new Date(now).toISOString();
	const state = readState(json, policy.retryField);
	const error =
		readError(getPath(json, policy.errorField)) ??
		({
			code: 'invalid_request',
			message: `Route Failures received an item without "${policy.errorField}"; connect only failure outputs to it`,
			retryable: false,
			attempts: 0,
		} satisfies ItemError);
	const history: HistoryEntry[] = [
		...state.history,
		{ code: error.code, message: error.message, at },
	];

	if (policy.filteredCodes.has(error.code)) {
		return { route: 'filtered', json: setPath(json, policy.errorField, { ...error, history }) };
	}
	if (policy.retryCodes.has(error.code) && state.attempts < policy.maxRetries) {
		const attempts = state.attempts + 1;
		const waitMs = suggestedWait(attempts, policy);
		const retry: RetryState = {
			attempts,
			waitMs,
			retryAt: new Date(now + waitMs).toISOString(),
			history,
		};
		return {
			route: 'retry',
			json: setPath(deletePath(json, policy.errorField), policy.retryField, retry),
		};
	}
	const exhausted = policy.retryCodes.has(error.code);
	let out = setPath(json, policy.errorField, { ...error, history });
	if (exhausted) {
		out = setPath(out, policy.retryField, { attempts: state.attempts, exhausted: true });
	}
	return { route: 'deadLetter', json: out };
}
