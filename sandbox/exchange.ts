/**
 * One LLM call's exchange: the recorder it is counted in, its ids and the headers its answer
 * carries. An error answer is recorded by status and sent in the provider's shape.
 */
import type { ServerResponse } from 'node:http';

import { send } from './http';
import type { Dialect } from './protocol';
import { errorAnswer, type ErrorKind } from './protocol-errors';
import type { SandboxState } from './state';
import type { StatsRecorder } from './stats';

export interface Exchange {
	/** The recorder the call arrived in: its counts stay there across a reset(). */
	st: StatsRecorder;
	res: ServerResponse;
	provider: Dialect;
	id: string;
	requestId: string;
	headers: Record<string, string>;
}

/** Counts the arrival (and the leaving, when the socket closes) and names the request. */
export function openExchange(
	state: SandboxState,
	provider: Dialect,
	res: ServerResponse,
): Exchange {
	const st = state.stats;
	st.arrive();
	res.once('close', () => st.leave());
	const id = state.nextId();
	const requestId = `req_${id}`;
	const headers = {
		[provider === 'openai'
			? 'x-request-id'
			: provider === 'gemini'
				? 'x-goog-request-id'
				: 'request-id']: requestId,
	};
	return { st, res, provider, id, requestId, headers };
}

export function answerError(
	x: Exchange,
	kind: ErrorKind,
	message: string,
	rateType?: 'requests' | 'tokens',
	code?: string,
): void {
	// Gemini says how long to wait in the body (RetryInfo), not in headers.
	const wait = x.headers['retry-after-ms'];
	if (x.provider === 'gemini') {
		delete x.headers['retry-after'];
		delete x.headers['retry-after-ms'];
	}
	const { status, body } = errorAnswer(
		x.provider,
		kind,
		message,
		x.requestId,
		rateType,
		code,
		wait === undefined ? undefined : Number(wait),
	);
	x.st.status(status);
	send(x.res, status, body, x.headers);
}
