/**
 * What a sandbox is told (`startSandbox(options)`, `POST /sandbox/config`) and what it hands
 * back: the public shapes only; settings.ts resolves and checks them.
 */
import type { BatchSandbox, BatchSandboxOptions } from './batch';
import type { FlexSettings } from './flex';
import type { GroupFaultKind } from './group';
import type { ProfileName } from './profile-names';
import type { FaultKind, SandboxStats } from './stats';

export interface SandboxOptions {
	/** A named fault profile (sandbox/profiles.ts); the other options given here win over it. */
	profile?: ProfileName;
	/** @default 0 (a free port) */
	port?: number;
	/** @default '127.0.0.1' */
	host?: string;
	/** Requests per minute. @default Infinity (no limit) */
	rpm?: number;
	/** Tokens per minute (input tokens + max_tokens per request). @default Infinity */
	tpm?: number;
	/** Bucket capacity = rate per second * burstSeconds, at least 1. @default 1 */
	burstSeconds?: number;
	/** Added before answering accepted requests (429s answer at once). @default { min: 0, max: 0 } */
	latencyMs?: { min: number; max: number };
	/** Probability per accepted request of each fault. @default {} (none) */
	faults?: Partial<Record<FaultKind, number>>;
	/** @default 1 */
	seed?: number;
	/** When set, any other key gets 401. @default undefined: any non-empty key is accepted */
	apiKeys?: string[];
	/** Every call answers the provider's out-of-credit error. @default false */
	quotaExhausted?: boolean;
	/** How long a 'hang' fault holds the socket before destroying it. @default 120000 */
	hangMs?: number;
	/** The limiter's clock (tests pass a fake one). @default Date.now */
	now?: () => number;
	/**
	 * Probability per grouped (multi-record) answer of each fault: `drop` a record,
	 * `duplicate` one (also under another record's ID), `swap` two. @default {} (none)
	 */
	groupFaults?: Partial<Record<GroupFaultKind, number>>;
	/** Per model: fault probabilities used instead of `faults` (e.g. only the primary is overloaded). @default {} */
	modelFaults?: Record<string, Partial<Record<FaultKind, number>>>;
	/**
	 * Per model: the share of prompts (picked per seed, model and prompt: the same items on
	 * every run) it answers wrong and unsure — every enum property another value, `confidence`
	 * below 0.5; its other structured answers carry a `confidence` of at least 0.9. A cheap
	 * model for a cheap-first cascade (sandbox/model-misses.ts). @default {}
	 */
	modelMisses?: Record<string, number>;
	/**
	 * Every call answers 503 from `afterMs` after the first call for `durationMs` (a provider
	 * outage; not charged to the limits). @default undefined (none)
	 */
	outage?: { afterMs: number; durationMs: number };
	/** Retry-After of a `status429` fault. @default 1000 */
	fault429RetryAfterMs?: number;
	/**
	 * A model at temperature 0 mostly answers an identical request identically: the
	 * probability that a request sent with `temperature: 0` gets the same kind of answer as the
	 * first answered request with the same model and prompt — a `schemaViolation` fails again
	 * on a fresh retry, a valid answer stays valid. Any other temperature (or none sent: the
	 * providers' default is 1) rolls every answer on its own. A re-ask turn is a different
	 * request (it carries the errors) and is answered correctly. @default 0.9
	 */
	sameAnswerAtTemperature0?: number;
	/** Send the providers' rate-limit headers while limits are set. @default true */
	rateHeaders?: boolean;
	/**
	 * A prompt broken mid-run: after this many accepted calls that ask for a schema, every
	 * structured answer (re-asks too) leaves the schema's first required property out, counted
	 * as `schemaViolation` faults. @default undefined (never)
	 */
	breakSchemaAfter?: number;
	/** Models outside the sandbox's list answer 404 `model_not_found`. @default false */
	strictModels?: boolean;
	/**
	 * OpenAI Flex (`service_tier: "flex"`): the share answered 429 `resource_unavailable` (not
	 * billed) and the latency factor. @default { unavailable: 0.2, latencyFactor: 3 }
	 */
	flex?: Partial<FlexSettings>;
	/** The batch APIs (sandbox/batch.ts): processing time, expiry, caps. */
	batch?: BatchSandboxOptions;
}

export interface Sandbox {
	url: string;
	port: number;
	stats(): SandboxStats;
	/** Zeroes counters, refills the buckets and forgets per-prompt request counts. */
	reset(): void;
	configure(o: Partial<SandboxOptions>): void;
	close(): Promise<void>;
	/** The batch APIs' counters and settings. */
	batch: BatchSandbox;
}
