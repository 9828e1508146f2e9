/**
 * The account's side of a call: the outage window, the request and token buckets, their
 * 429 with Retry-After, and the providers' rate-limit headers on every answer.
 */
import type { Exchange } from './exchange';
import { answerError } from './exchange';
import { anthropicRateHeaders, openAiRateHeaders, type LimitState } from './limiter';
import type { ParsedCall } from './protocol';
import { MESSAGES } from './protocol-errors';
import { tokensForChars } from './reply';
import type { SandboxState } from './state';

export interface Admitted {
	inputTokens: number;
	/** What the token bucket was charged: input tokens + max_tokens. */
	charge: number;
}

/** Admits the call (and counts it accepted), or answers the outage's 503 / the limit's 429. */
export function admitCall(
	state: SandboxState,
	x: Exchange,
	call: ParsedCall,
): Admitted | undefined {
	const opts = state.settings;
	const t0 = opts.now();
	state.firstCallAt ??= t0;
	if (opts.outage) {
		const since = t0 - state.firstCallAt - opts.outage.afterMs;
		if (since >= 0 && since < opts.outage.durationMs) {
			x.st.outageRequests++;
			return void answerError(x, 'unavailable', MESSAGES.unavailable);
		}
	}
	const inputTokens = tokensForChars(call.inputChars);
	const charge = inputTokens + (call.maxTokens ?? 0);
	if (state.limiter.limited && !admitToBuckets(state, x, call.model, charge)) return undefined;
	x.st.accept(opts.now(), charge);
	return { inputTokens, charge };
}

function admitToBuckets(state: SandboxState, x: Exchange, model: string, charge: number): boolean {
	const adm = state.limiter.admit(charge);
	// Gemini sends no rate-limit headers.
	if (x.provider !== 'gemini') rateHeaders(state, x.provider === 'openai', adm.state, x.headers);
	if (adm.ok) return true;
	x.st.rateLimited++;
	x.headers['retry-after'] = String(Math.max(1, Math.ceil(adm.retryAfterMs / 1000)));
	x.headers['retry-after-ms'] = String(Math.ceil(adm.retryAfterMs));
	const b = adm.state[adm.reason];
	const msg = adm.tooLarge
		? `Request too large for ${model}: Limit ${b?.limit}, Requested ${charge}. The input or output tokens must be reduced in order to run successfully.`
		: `Rate limit reached for ${adm.reason} on ${model}: Limit ${b?.limit}, Remaining ${b?.remaining}, Requested ${adm.reason === 'requests' ? 1 : charge}. Please try again in ${Math.ceil(adm.retryAfterMs)}ms.`;
	answerError(x, 'rate_limit', msg, adm.reason);
	return false;
}

function rateHeaders(
	state: SandboxState,
	openai: boolean,
	limits: LimitState,
	headers: Record<string, string>,
): void {
	if (!state.settings.rateHeaders) return;
	if (openai) openAiRateHeaders(limits, headers);
	else anthropicRateHeaders(limits, state.settings.now(), headers);
}
