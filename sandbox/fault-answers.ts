/**
 * How a call that drew a failing fault is answered: a held or reset socket, an error status
 * in the provider's shape, or a 200 cut off mid-JSON.
 */
import type { IncomingMessage } from 'node:http';

import { answerError, type Exchange } from './exchange';
import { send } from './http';
import { MESSAGES } from './protocol-errors';
import type { SandboxState } from './state';
import type { ForcedFaultKind } from './stats';

/** The faults answered with a broken answer instead of a (possibly spoiled) reply. */
export type FailingFault = Exclude<
	ForcedFaultKind,
	'truncated' | 'contentPolicy' | 'schemaViolation' | 'hang'
>;

export function isFailingFault(f: ForcedFaultKind | undefined): f is FailingFault {
	return f !== undefined && !['truncated', 'contentPolicy', 'schemaViolation', 'hang'].includes(f);
}

/** Holds the socket without an answer; the client's timeout should fire first. */
export function holdSocket(state: SandboxState, req: IncomingMessage, x: Exchange): void {
	const t = state.timers.later(state.settings.hangMs, () => req.socket.destroy());
	x.res.once('close', () => state.timers.cancel(t));
}

export function answerFault(
	state: SandboxState,
	x: Exchange,
	req: IncomingMessage,
	fault: FailingFault,
): void {
	const openai = x.provider === 'openai';
	const gemini = x.provider === 'gemini';
	switch (fault) {
		case 'reset':
			req.socket.destroy();
			return;
		case 'status400':
			return answerError(x, 'invalid_request', 'Invalid request (sandbox fault status400).');
		case 'status401':
			return answerError(
				x,
				'auth',
				openai ? MESSAGES.authOpenAi : gemini ? MESSAGES.authGemini : MESSAGES.authAnthropic,
			);
		case 'status429': {
			const ms = state.settings.fault429RetryAfterMs;
			x.headers['retry-after'] = String(Math.ceil(ms / 1000));
			x.headers['retry-after-ms'] = String(ms);
			return answerError(
				x,
				'rate_limit',
				`Rate limit reached (sandbox fault status429). Please try again in ${Math.ceil(ms / 1000)}s.`,
			);
		}
		case 'status500':
			return answerError(x, 'server', MESSAGES.server);
		case 'status503':
			return answerError(x, 'unavailable', MESSAGES.unavailable);
		case 'status529':
			return answerError(x, 'overloaded', openai ? MESSAGES.unavailable : MESSAGES.overloaded);
		case 'malformed': {
			x.st.status(200);
			const cut = openai
				? `{"id": "chatcmpl-${x.id}", "object": "chat.comp`
				: gemini
					? `{"candidates": [{"content": {"parts": [{"te`
					: `{"id": "msg_${x.id}", "type": "mess`;
			return send(x.res, 200, cut, x.headers);
		}
	}
}
