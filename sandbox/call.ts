/**
 * POST /v1/chat/completions and POST /v1/messages: one handler for both dialects, since
 * they differ only in the shapes protocol.ts reads and writes. A call is read and checked,
 * admitted by the account's limits, given its fault (if any), delayed by the latency and
 * answered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { answerSuccess } from './answer';
import { anthropicCachePlan, openAiCachePlan } from './cache';
import { readCall } from './call-request';
import { answerError, openExchange } from './exchange';
import { answerFault, holdSocket, isFailingFault } from './fault-answers';
import { pickFault } from './faults';
import { flexUnavailable, RESOURCE_UNAVAILABLE_MESSAGE, servedTier, tierLatency } from './flex';
import { admitCall } from './limits';
import { requestRng } from './prng';
import type { Dialect } from './protocol';
import { promptDigest } from './reply';
import type { SandboxState } from './state';
import { FORCED_FAULT_KINDS } from './stats';

export async function handleCall(
	state: SandboxState,
	provider: Dialect,
	req: IncomingMessage,
	res: ServerResponse,
	/** Gemini: the model named in the path. */
	pathModel?: string,
): Promise<void> {
	const x = openExchange(state, provider, res);
	const request = await readCall(state.settings, x, req, pathModel);
	if (!request) return;
	const { call, body } = request;
	const admitted = admitCall(state, x, call);
	if (!admitted) return;

	const opts = state.settings;
	const digest = promptDigest(call.prompt);
	const n = state.seenByDigest.get(digest) ?? 0;
	state.seenByDigest.set(digest, n + 1);
	const rng = requestRng(opts.seed, digest, n);
	const roll = rng();
	const drawn = opts.latencyMs.min + rng() * (opts.latencyMs.max - opts.latencyMs.min);
	const latency = tierLatency(opts.flex, call, drawn);
	// Its own draw, taken only for flex requests: every other request rolls as before.
	if (servedTier(call) === 'flex' && flexUnavailable(opts.flex, call, rng())) {
		x.st.flexUnavailable++;
		return answerError(x, 'resource_unavailable', RESOURCE_UNAVAILABLE_MESSAGE);
	}
	const fault = pickFault(state, call, digest, n, roll, rng);
	if (fault === 'unknown') {
		return answerError(
			x,
			'invalid_request',
			`Unknown sandbox directive in prompt; faults are ${FORCED_FAULT_KINDS.join(', ')}.`,
		);
	}
	if (fault) x.st.faults[fault]++;

	if (fault === 'hang') return holdSocket(state, req, x);
	if (latency > 0) await state.timers.sleep(latency);
	if (isFailingFault(fault)) return answerFault(state, x, req, fault);
	// Gemini's implicit cache is not modelled: its answers report no cached tokens.
	const cachePlan =
		provider === 'anthropic'
			? anthropicCachePlan(body, call.model)
			: provider === 'gemini'
				? undefined
				: openAiCachePlan(body, call.model);
	answerSuccess(state, x, call, digest, fault, admitted.inputTokens, cachePlan);
}
