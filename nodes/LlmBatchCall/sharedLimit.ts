import { NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';

import { sharedFlow } from '../../core/call/limiter/in-process';
import type { Limiter } from '../../core/call/limiter/limiter';
import type { RateLimits } from '../../core/call/limiter/policy';
import { limitKey } from '../../core/call/limiter/store';
import { StoreLimiter } from '../../core/call/limiter/store-limiter';
import type { StoreLimiterEvent } from '../../core/call/limiter/store-outage';
import type { ProviderCredentials } from '../../core/call/providers';
import { openRedis, redisConfigFromCredential } from '../../core/call/limiter/redis-connection';
import { RedisLimitStore } from '../../core/call/limiter/redis-store';
import type { CallLimit } from '../../core/call/run-call';
import type { Clock, ProviderName } from '../../core/types';
import type { CallConfig } from './params';

export interface LimitHandle {
	readonly limiter: Limiter;
	/** Called once the runner exists: the "stop" choice ends the run through it. */
	onStop(stop: (message: string) => void): void;
	/** After the run: a warning for the output hint when Redis failed meanwhile. */
	finish(): string | undefined;
	release(): void;
}

function fmt(n: number): string {
	return Math.round(n).toLocaleString('en-US');
}

/** The node's Redis credential, or a configuration error saying which one to pick. */
async function redisCredential(ctx: IExecuteFunctions) {
	try {
		return await ctx.getCredentials('llmBatchRedisApi');
	} catch (e) {
		throw new NodeOperationError(
			ctx.getNode(),
			`No Redis credential set: ${(e as Error).message}`,
			{
				description:
					'Share Limits Through is Redis: select or create an "LLM Batch: Redis" credential; nothing was sent.',
			},
		);
	}
}

/** What a Redis outage or recovery says in n8n's log; the "stop" choice ends the run through `stop`. */
function redisEventLog(
	ctx: IExecuteFunctions,
	shareText: string,
	stop: () => (message: string) => void,
): (e: StoreLimiterEvent) => void {
	const node = ctx.getNode().name;
	return (e) => {
		if (e.type === 'recovered') {
			ctx.logger.info(
				`${node}: Redis is back after ${Math.round(e.downMs / 1000)} s — limits are shared again`,
				{ node },
			);
		} else if (e.fallback === 'local') {
			ctx.logger.warn(
				`${node}: Redis (shared limits) is unreachable: ${e.message} — this process continues alone at ${shareText} until Redis answers`,
				{ node },
			);
		} else {
			ctx.logger.warn(`${node}: Redis (shared limits) is unreachable: ${e.message} — run stopped`, {
				node,
			});
			stop()(`the shared limit store (Redis) is unreachable: ${e.message}`);
		}
	};
}

/**
 * The limiter the node's "Share Limits Through" names: the process-wide one, or a
 * StoreLimiter on Redis (credential `llmBatchRedisApi`) with the chosen behaviour when
 * Redis is unreachable. Never a silent full rate per process: the fallback runs at the
 * stated share and says so in the log and the hint.
 */
export async function limiterFor(
	ctx: IExecuteFunctions,
	cfg: CallConfig,
	creds: ProviderCredentials,
	clock: Clock,
	/** A fallback model: its own limits, shared the same way as the primary's. */
	target: { provider: ProviderName; model: string } = { provider: cfg.provider, model: cfg.model },
): Promise<LimitHandle> {
	const identity = {
		provider: target.provider,
		baseUrl: creds.baseUrl ?? '',
		apiKey: creds.apiKey,
		model: target.model,
	};
	const limits: RateLimits = { rpm: cfg.requestsPerMinute, tpm: cfg.tokensPerMinute };
	if (cfg.shareLimitsThrough === 'process') {
		return {
			limiter: sharedFlow(identity, limits, clock),
			onStop: () => undefined,
			finish: () => undefined,
			release: () => undefined,
		};
	}
	const redis = await openRedis(redisConfigFromCredential(await redisCredential(ctx)));
	const share = cfg.redisFallbackShare / 100;
	if (redis.error && cfg.redisUnavailable === 'stop') {
		redis.release();
		throw new NodeOperationError(
			ctx.getNode(),
			'Redis (Share Limits Through) cannot be used; nothing was sent',
			{
				description: `${redis.error.message}. "If Redis Is Unreachable" is Stop the Run. Check the LLM Batch: Redis credential (its Test button) and that the server is up, or choose Continue at a Share of the Limit.`,
			},
		);
	}
	const shareText = `${cfg.redisFallbackShare} % of the limits (${fmt(limits.rpm * share)} RPM, ${fmt(limits.tpm * share)} TPM)`;
	let stop: (message: string) => void = () => undefined;
	const limiter = new StoreLimiter({
		store: new RedisLimitStore(redis.client),
		key: limitKey(identity),
		limits,
		clock,
		onUnavailable: cfg.redisUnavailable === 'stop' ? { mode: 'stop' } : { mode: 'local', share },
		onEvent: redisEventLog(ctx, shareText, () => stop),
	});
	return {
		limiter,
		onStop: (fn) => (stop = fn),
		finish: () => {
			const r = limiter.finish();
			if (r.outages === 0) return undefined;
			if (cfg.redisUnavailable === 'stop')
				return `Redis (shared limits) became unreachable (${r.lastError}); the run was stopped.`;
			return `Redis (shared limits) was unreachable ${r.outages}× for ${Math.round(r.fallbackMs / 1000)} s in all (${r.lastError}): this process sent ${r.fallbackRequests} requests on its own limiter at ${shareText} meanwhile.`;
		},
		release: redis.release,
	};
}

/**
 * Each model of the chain its own limit (the primary's, then each fallback model's), shared
 * the way Share Limits Through says; the ones already taken are released when one fails.
 */
export async function limitsFor(
	ctx: IExecuteFunctions,
	cfg: CallConfig,
	creds: ProviderCredentials,
	fallback:
		| { provider: ProviderName; credentials: ProviderCredentials; models: string[] }
		| undefined,
	clock: Clock,
): Promise<CallLimit[]> {
	const limits: CallLimit[] = [await limiterFor(ctx, cfg, creds, clock)];
	try {
		for (const model of fallback?.models ?? [])
			limits.push(
				await limiterFor(ctx, cfg, fallback!.credentials, clock, {
					provider: fallback!.provider,
					model,
				}),
			);
	} catch (e) {
		for (const l of limits) l.release();
		throw e instanceof NodeOperationError ? e : new NodeOperationError(ctx.getNode(), e as Error);
	}
	return limits;
}
