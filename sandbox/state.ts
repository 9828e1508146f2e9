/**
 * What a running sandbox remembers between calls: its settings, the account limits, the
 * counters, how often each prompt was asked, the prompt cache and the outage origin.
 */
import { PromptCache } from './cache';
import { AccountLimits } from './limiter';
import type { SandboxOptions } from './options';
import { resolveSettings, type SandboxSettings } from './settings';
import { StatsRecorder } from './stats';
import { Timers } from './timers';

export class SandboxState {
	settings: SandboxSettings;
	limiter: AccountLimits;
	stats = new StatsRecorder();
	/** Prompt digest -> accepted requests so far (the n of `fail-first:N` and the request rng). */
	seenByDigest = new Map<string, number>();
	/** Model + prompt digest -> whether the first answer at temperature 0 broke the schema. */
	firstAnswerAtT0 = new Map<string, boolean>();
	/** Accepted calls that asked for a schema (`breakSchemaAfter` counts them). */
	schemaCalls = 0;
	/** Sandbox-clock instant of the first call since start / reset (the outage window's origin). */
	firstCallAt: number | undefined;
	readonly cache = new PromptCache();
	readonly timers = new Timers();
	private seq = 0;

	constructor(options: SandboxOptions) {
		this.settings = resolveSettings(options);
		this.limiter = new AccountLimits(this.settings);
	}

	/** A fresh `sbx…` id for a request. */
	nextId(): string {
		return `sbx${(++this.seq).toString(16).padStart(10, '0')}`;
	}

	reset(): void {
		this.stats = new StatsRecorder();
		this.seenByDigest = new Map();
		this.firstAnswerAtT0 = new Map();
		this.schemaCalls = 0;
		this.cache.clear();
		this.firstCallAt = undefined;
		this.limiter = new AccountLimits(this.settings);
	}

	/** New settings over the running ones; the buckets are rebuilt only when a limit changes. */
	configure(o: Partial<SandboxOptions>): void {
		const next = resolveSettings(o, this.settings);
		const s = this.settings;
		const rebuild =
			next.rpm !== s.rpm ||
			next.tpm !== s.tpm ||
			next.burstSeconds !== s.burstSeconds ||
			next.now !== s.now;
		const nextLimiter = rebuild ? new AccountLimits(next) : this.limiter;
		this.settings = next;
		this.limiter = nextLimiter;
	}
}
