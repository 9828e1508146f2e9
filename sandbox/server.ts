/**
 * A local server that speaks the OpenAI chat-completions and Anthropic messages APIs well
 * enough for the official SDKs, with provider-style rate limits, seeded faults and counters.
 * Used by the demo, the tests, the benchmarks and as a dry-run provider (no key, no spend).
 *
 * Routes: POST /v1/chat/completions, POST /v1/messages, GET /v1/models[/<id>],
 * GET /sandbox/stats[?windowMs=N], POST /sandbox/config, POST /sandbox/reset, and the batch
 * APIs (sandbox/batch.ts). This file starts one and re-exports what its users import.
 */
import type { AddressInfo } from 'node:net';

import { createBatchSandbox } from './batch';
import { apiKeyOf, keyAccepted } from './http';
import type { Sandbox, SandboxOptions } from './options';
import { createSandboxServer } from './router';
import { SandboxState } from './state';

export { expectedReply, promptDigest } from './reply';
export type { Reply, ReplyRequest } from './reply';
export { FAULT_KINDS, FORCED_FAULT_KINDS } from './stats';
export { GROUP_FAULT_KINDS } from './group';
export type { GroupFaultKind } from './group';
export { PROFILE_NAMES, PROFILE_DESCRIPTIONS, INCIDENT_FAULTS, profileOptions } from './profiles';
export type { ProfileName } from './profiles';
export type { FaultKind, ForcedFaultKind, SandboxStats } from './stats';
export type { Sandbox, SandboxOptions } from './options';

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
	const state = new SandboxState(options);
	const batchApi = createBatchSandbox({
		now: () => state.settings.now(),
		seed: () => state.settings.seed,
		authorized: (req) => keyAccepted(apiKeyOf(req), state.settings.apiKeys),
	});
	if (options.batch) batchApi.configure(options.batch);
	let closed = false;
	const server = createSandboxServer(state, batchApi, () => api);

	await new Promise<void>((res, rej) => {
		server.once('error', rej);
		server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
			server.off('error', rej);
			res();
		});
	});
	const addr = server.address() as AddressInfo;
	const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

	const api: Sandbox = {
		url: `http://${host}:${addr.port}`,
		port: addr.port,
		stats: () => state.stats.snapshot(),
		batch: batchApi,
		reset: () => state.reset(),
		configure(o) {
			if (o.batch) batchApi.configure(o.batch);
			state.configure(o);
		},
		close() {
			if (closed) return Promise.resolve();
			closed = true;
			state.timers.cancelAll();
			return new Promise<void>((res) => {
				server.close(() => res());
				server.closeAllConnections();
			});
		},
	};
	return api;
}
