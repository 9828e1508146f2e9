import type { Clock } from '../../types';
import {
	connectionErrors,
	describeRedisFailure,
	NOT_CONNECTED,
	type LimitClient,
} from './redis-connection';
import type { LimitStore, StoreLimits } from './store';

export interface RedisLimitStoreOptions {
	/**
	 * Key prefix in Redis.
	 * @default 'llm-batch:limit:'
	 */
	readonly prefix?: string;
	/** Tests only: use this clock instead of Redis's `TIME`. */
	readonly clock?: Clock;
	/**
	 * An idle key expires after this long (its buckets are full again anyway).
	 * @default 600000
	 */
	readonly idleTtlMs?: number;
}

export class RedisLimitStore implements LimitStore {
	private readonly prefix: string;
	private readonly ttl: number;

	constructor(
		private readonly client: LimitClient,
		private readonly options: RedisLimitStoreOptions = {},
	) {
		this.prefix = options.prefix ?? 'llm-batch:limit:';
		this.ttl = options.idleTtlMs ?? 600_000;
	}

	private readonly seen = new Map<
		string,
		{ share: number; cuts: number; ceilingRpm: number; learnedRpm: number }
	>();

	/** A failed command as its cause: the connection's own error when the command only says "not connected". */
	private failure(error: unknown): Error {
		const at = {
			host: this.client.options.host ?? 'localhost',
			port: this.client.options.port ?? 6379,
		};
		const message = error instanceof Error ? error.message : String(error);
		const cause = NOT_CONNECTED.test(message)
			? (connectionErrors.get(this.client) ?? new Error(`not connected to ${at.host}:${at.port}`))
			: error;
		return new Error(describeRedisFailure(cause, at), { cause: error });
	}

	private async run(op: string, key: string, limits: StoreLimits, n: number): Promise<number> {
		const finite = (v: number) => (Number.isFinite(v) ? v : 0);
		const [wait, share, cuts, ceilingRpm, learnedRpm] = await this.client
			.llmBatchLimit(
				this.prefix + key,
				op,
				finite(limits.rpm),
				finite(limits.tpm),
				limits.burstSeconds ?? 0.5,
				Math.round(n),
				this.options.clock ? this.options.clock.now() : -1,
				this.ttl,
				finite(limits.learnedRpm ?? 0),
				finite(limits.learnedTpm ?? 0),
			)
			.catch((e: unknown) => {
				throw this.failure(e);
			});
		this.seen.set(key, {
			share: Number(share) / 1e6,
			cuts: Number(cuts),
			ceilingRpm: Number(ceilingRpm) || Infinity,
			learnedRpm: Number(learnedRpm),
		});
		return Number(wait);
	}

	async take(key: string, limits: StoreLimits, tokens: number): Promise<number> {
		return await this.run('take', key, limits, tokens);
	}

	async adjust(key: string, limits: StoreLimits, tokens: number): Promise<void> {
		await this.run('adjust', key, limits, tokens);
	}

	async cut(key: string, limits: StoreLimits, oks: number): Promise<void> {
		await this.run('cut', key, limits, oks);
	}

	async rateLimited(key: string, limits: StoreLimits, oks: number): Promise<void> {
		await this.run('r429', key, limits, oks);
	}

	async grow(key: string, limits: StoreLimits, oks: number): Promise<void> {
		await this.run('grow', key, limits, oks);
	}

	adaptive(key: string): { share: number; cuts: number } {
		const e = this.seen.get(key);
		return { share: e?.share ?? 1, cuts: e?.cuts ?? 0 };
	}

	ceilings(key: string): { ceilingRpm: number; learnedRpm: number } | undefined {
		const e = this.seen.get(key);
		return e && { ceilingRpm: e.ceilingRpm, learnedRpm: e.learnedRpm };
	}
}
