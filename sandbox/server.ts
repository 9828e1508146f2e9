/**
 * A local server that speaks the OpenAI chat-completions and Anthropic messages APIs well
 * enough for the official SDKs, with provider-style rate limits, seeded faults and counters.
 * Used by the demo, the tests, the benchmarks and as a dry-run provider (no key, no spend).
 *
 * Routes: POST /v1/chat/completions, POST /v1/messages, GET /v1/models[/<id>],
 * GET /sandbox/stats[?windowMs=N], POST /sandbox/config, POST /sandbox/reset.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createBatchSandbox, type BatchSandbox, type BatchSandboxOptions } from './batch';
import { anthropicRateHeaders, openAiRateHeaders, AccountLimits, type LimitState } from './limiter';
import { requestRng } from './prng';
import { isProfileName, profileOptions, type ProfileName } from './profiles';
import {
	anthropicMessage,
	errorAnswer,
	MESSAGES,
	MODELS,
	modelEntry,
	modelList,
	openAiCompletion,
	parseAnthropic,
	parseOpenAi,
	type ErrorKind,
	type ParsedCall,
	type Dialect,
} from './protocol';
import { anthropicCachePlan, openAiCachePlan, PromptCache, type CachePlan } from './cache';
import {
	applyGroupFault,
	GROUP_FAULT_KINDS,
	groupAnswer,
	parseGroupPrompt,
	type GroupFaultKind,
} from './group';
import { promptDigest, replyFor, tokensForChars } from './reply';
import {
	FAULT_KINDS,
	FORCED_FAULT_KINDS,
	StatsRecorder,
	type FaultKind,
	type ForcedFaultKind,
	type SandboxStats,
} from './stats';

export { expectedReply, promptDigest } from './reply';
export type { Reply, ReplyRequest } from './reply';
export { FAULT_KINDS, FORCED_FAULT_KINDS } from './stats';
export { GROUP_FAULT_KINDS } from './group';
export type { GroupFaultKind } from './group';
export { PROFILE_NAMES, PROFILE_DESCRIPTIONS, INCIDENT_FAULTS, profileOptions } from './profiles';
export type { ProfileName } from './profiles';
export type { FaultKind, ForcedFaultKind, SandboxStats } from './stats';

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
	/** Models outside the sandbox's list answer 404 `model_not_found`. @default false */
	strictModels?: boolean;
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

interface Resolved {
	rpm: number;
	tpm: number;
	burstSeconds: number;
	latencyMs: { min: number; max: number };
	faults: Partial<Record<FaultKind, number>>;
	seed: number;
	apiKeys?: string[];
	quotaExhausted: boolean;
	hangMs: number;
	now: () => number;
	groupFaults: Partial<Record<GroupFaultKind, number>>;
	modelFaults: Record<string, Partial<Record<FaultKind, number>>>;
	outage?: { afterMs: number; durationMs: number };
	fault429RetryAfterMs: number;
	sameAnswerAtTemperature0: number;
	rateHeaders: boolean;
	strictModels: boolean;
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const DIRECTIVE = '[[sandbox:';
const FORCED_RE = /\[\[sandbox:([A-Za-z0-9]+)\]\]/;
const FAIL_FIRST_RE = /\[\[sandbox:fail-first:(\d+):([A-Za-z0-9]+)\]\]/;

function resolve(given: SandboxOptions, base?: Resolved): Resolved {
	if (given.profile !== undefined && !isProfileName(given.profile))
		throw new Error(`Unknown sandbox profile ${String(given.profile)}`);
	const o = given.profile ? profileOptions(given.profile, given) : given;
	const r: Resolved = {
		rpm: o.rpm ?? base?.rpm ?? Infinity,
		tpm: o.tpm ?? base?.tpm ?? Infinity,
		burstSeconds: o.burstSeconds ?? base?.burstSeconds ?? 1,
		latencyMs: o.latencyMs ?? base?.latencyMs ?? { min: 0, max: 0 },
		faults: o.faults ?? base?.faults ?? {},
		seed: o.seed ?? base?.seed ?? 1,
		apiKeys: 'apiKeys' in o ? o.apiKeys : base?.apiKeys,
		quotaExhausted: o.quotaExhausted ?? base?.quotaExhausted ?? false,
		hangMs: o.hangMs ?? base?.hangMs ?? 120_000,
		now: o.now ?? base?.now ?? Date.now,
		groupFaults: o.groupFaults ?? base?.groupFaults ?? {},
		modelFaults: o.modelFaults ?? base?.modelFaults ?? {},
		outage: 'outage' in o ? o.outage : base?.outage,
		fault429RetryAfterMs: o.fault429RetryAfterMs ?? base?.fault429RetryAfterMs ?? 1000,
		sameAnswerAtTemperature0: o.sameAnswerAtTemperature0 ?? base?.sameAnswerAtTemperature0 ?? 0.9,
		rateHeaders: o.rateHeaders ?? base?.rateHeaders ?? true,
		strictModels: o.strictModels ?? base?.strictModels ?? false,
	};
	for (const [model, faults] of Object.entries(r.modelFaults)) {
		for (const [k, p] of Object.entries(faults)) {
			if (
				!(FAULT_KINDS as readonly string[]).includes(k) ||
				!(typeof p === 'number' && p >= 0 && p <= 1)
			)
				throw new Error(
					`Expected \`modelFaults.${model}\` to map ${FAULT_KINDS.join(', ')} to probabilities in [0, 1], got ${k}: ${p}`,
				);
		}
	}
	for (const [k, p] of Object.entries(r.groupFaults)) {
		if (!(GROUP_FAULT_KINDS as readonly string[]).includes(k))
			throw new Error(
				`Expected \`groupFaults\` keys to be one of ${GROUP_FAULT_KINDS.join(', ')}, got ${k}`,
			);
		if (!(typeof p === 'number' && p >= 0 && p <= 1))
			throw new Error(`Expected \`groupFaults.${k}\` to be a probability in [0, 1], got ${p}`);
	}
	if (r.outage && !(r.outage.afterMs >= 0 && r.outage.durationMs >= 0)) {
		throw new Error(
			`Expected \`outage\` to be { afterMs >= 0, durationMs >= 0 }, got ${JSON.stringify(r.outage)}`,
		);
	}
	if (!(r.sameAnswerAtTemperature0 >= 0 && r.sameAnswerAtTemperature0 <= 1))
		throw new Error(
			`Expected \`sameAnswerAtTemperature0\` to be a probability in [0, 1], got ${r.sameAnswerAtTemperature0}`,
		);
	if (!(r.fault429RetryAfterMs >= 0))
		throw new Error(`Expected \`fault429RetryAfterMs\` to be >= 0, got ${r.fault429RetryAfterMs}`);
	if (!(r.latencyMs.min >= 0 && r.latencyMs.max >= r.latencyMs.min)) {
		throw new Error(
			`Expected \`latencyMs\` to be { min >= 0, max >= min }, got ${JSON.stringify(r.latencyMs)}`,
		);
	}
	for (const [k, p] of Object.entries(r.faults)) {
		if (!(FAULT_KINDS as readonly string[]).includes(k))
			throw new Error(`Expected \`faults\` keys to be one of ${FAULT_KINDS.join(', ')}, got ${k}`);
		if (!(typeof p === 'number' && p >= 0 && p <= 1))
			throw new Error(`Expected \`faults.${k}\` to be a probability in [0, 1], got ${p}`);
	}
	if (!(r.hangMs >= 0)) throw new Error(`Expected \`hangMs\` to be >= 0, got ${r.hangMs}`);
	return r;
}

/** The fault a prompt forces on its n-th accepted request, if any ('unknown' for a typo). */
function forcedFault(prompt: string, n: number): ForcedFaultKind | 'unknown' | undefined {
	if (!prompt.includes(DIRECTIVE)) return undefined;
	const ff = FAIL_FIRST_RE.exec(prompt);
	if (ff) {
		if (!(FORCED_FAULT_KINDS as readonly string[]).includes(ff[2])) return 'unknown';
		return n < Number(ff[1]) ? (ff[2] as ForcedFaultKind) : undefined;
	}
	const m = FORCED_RE.exec(prompt);
	if (!m) return 'unknown';
	return (FORCED_FAULT_KINDS as readonly string[]).includes(m[1])
		? (m[1] as ForcedFaultKind)
		: 'unknown';
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
	return new Promise((res, rej) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on('data', (c: Buffer) => {
			size += c.length;
			if (size <= MAX_BODY_BYTES) chunks.push(c);
		});
		req.on('end', () =>
			res(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')),
		);
		req.on('error', rej);
	});
}

function apiKeyOf(req: IncomingMessage): string {
	const x = req.headers['x-api-key'];
	if (typeof x === 'string' && x !== '') return x;
	const auth = req.headers.authorization;
	return typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
}

function send(
	res: ServerResponse,
	status: number,
	body: string,
	headers: Record<string, string>,
): void {
	if (res.destroyed || res.headersSent) return;
	headers['content-type'] = 'application/json';
	headers['content-length'] = String(Buffer.byteLength(body));
	res.writeHead(status, headers);
	res.end(body);
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
	let opts = resolve(options);
	let limiter = new AccountLimits(opts);
	let stats = new StatsRecorder();
	let seenByDigest = new Map<string, number>();
	/** Model + prompt digest -> whether the first answer at temperature 0 broke the schema. */
	let firstAnswerAtT0 = new Map<string, boolean>();
	const cache = new PromptCache();
	const timers = new Set<NodeJS.Timeout>();
	let seq = 0;
	let closed = false;
	/** Sandbox-clock instant of the first call since start / reset (the outage window's origin). */
	let firstCallAt: number | undefined;
	const batchApi = createBatchSandbox({
		now: () => opts.now(),
		seed: () => opts.seed,
		authorized: (req) => {
			const key = apiKeyOf(req);
			return key !== '' && (!opts.apiKeys || opts.apiKeys.includes(key));
		},
	});
	if (options.batch) batchApi.configure(options.batch);

	const later = (ms: number, fn: () => void): NodeJS.Timeout => {
		// setTimeout fires at once for delays above 2^31 - 1 ms (e.g. hangMs: Infinity).
		const t = setTimeout(
			() => {
				timers.delete(t);
				fn();
			},
			Math.min(ms, 2_147_483_647),
		);
		timers.add(t);
		return t;
	};
	const sleep = (ms: number) => new Promise<void>((r) => later(ms, r));

	function rateHeaders(
		provider: Dialect,
		state: LimitState,
		headers: Record<string, string>,
	): void {
		if (!opts.rateHeaders) return;
		if (provider === 'openai') openAiRateHeaders(state, headers);
		else anthropicRateHeaders(state, opts.now(), headers);
	}

	function answerError(
		st: StatsRecorder,
		res: ServerResponse,
		provider: Dialect,
		kind: ErrorKind,
		message: string,
		id: string,
		headers: Record<string, string>,
		rateType?: 'requests' | 'tokens',
		code?: string,
	): void {
		const { status, body } = errorAnswer(provider, kind, message, id, rateType, code);
		st.status(status);
		send(res, status, body, headers);
	}

	async function handleCall(
		provider: Dialect,
		req: IncomingMessage,
		res: ServerResponse,
	): Promise<void> {
		// This request's counters stay with the recorder it arrived in, across a reset().
		const st = stats;
		st.arrive();
		res.once('close', () => st.leave());
		const id = `sbx${(++seq).toString(16).padStart(10, '0')}`;
		const requestId = `req_${id}`;
		const headers: Record<string, string> = {
			[provider === 'openai' ? 'x-request-id' : 'request-id']: requestId,
		};

		let raw: string | undefined;
		try {
			raw = await readBody(req);
		} catch {
			// The client went away mid-body; 499 ("client closed request") keeps the counts adding up.
			st.status(499);
			return;
		}
		if (raw === undefined)
			return answerError(
				st,
				res,
				provider,
				'too_large',
				'Request body too large.',
				requestId,
				headers,
			);
		let body: Record<string, unknown>;
		try {
			const parsed: unknown = JSON.parse(raw);
			if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
				throw new Error('not an object');
			body = parsed as Record<string, unknown>;
		} catch {
			return answerError(
				st,
				res,
				provider,
				'invalid_request',
				'We could not parse the JSON body of your request.',
				requestId,
				headers,
			);
		}

		const key = apiKeyOf(req);
		if (key === '' || (opts.apiKeys && !opts.apiKeys.includes(key))) {
			return answerError(
				st,
				res,
				provider,
				'auth',
				provider === 'openai' ? MESSAGES.authOpenAi : MESSAGES.authAnthropic,
				requestId,
				headers,
			);
		}
		if (opts.quotaExhausted) {
			return answerError(
				st,
				res,
				provider,
				'quota',
				provider === 'openai' ? MESSAGES.quotaOpenAi : MESSAGES.quotaAnthropic,
				requestId,
				headers,
			);
		}
		const parsed = provider === 'openai' ? parseOpenAi(body) : parseAnthropic(body);
		if (!parsed.ok)
			return answerError(st, res, provider, 'invalid_request', parsed.message, requestId, headers);
		const call = parsed.call;
		if (opts.strictModels && !MODELS.includes(call.model)) {
			return answerError(
				st,
				res,
				provider,
				'not_found',
				provider === 'openai'
					? `The model \`${call.model}\` does not exist or you do not have access to it.`
					: `model: ${call.model}`,
				requestId,
				headers,
				undefined,
				'model_not_found',
			);
		}
		const t0 = opts.now();
		firstCallAt ??= t0;
		if (opts.outage) {
			const since = t0 - firstCallAt - opts.outage.afterMs;
			if (since >= 0 && since < opts.outage.durationMs) {
				st.outageRequests++;
				return answerError(
					st,
					res,
					provider,
					'unavailable',
					MESSAGES.unavailable,
					requestId,
					headers,
				);
			}
		}
		const inputTokens = tokensForChars(call.inputChars);
		const charge = inputTokens + (call.maxTokens ?? 0);

		if (limiter.limited) {
			const adm = limiter.admit(charge);
			rateHeaders(provider, adm.state, headers);
			if (!adm.ok) {
				st.rateLimited++;
				headers['retry-after'] = String(Math.max(1, Math.ceil(adm.retryAfterMs / 1000)));
				headers['retry-after-ms'] = String(Math.ceil(adm.retryAfterMs));
				const b = adm.state[adm.reason];
				const msg = adm.tooLarge
					? `Request too large for ${call.model}: Limit ${b?.limit}, Requested ${charge}. The input or output tokens must be reduced in order to run successfully.`
					: `Rate limit reached for ${adm.reason} on ${call.model}: Limit ${b?.limit}, Remaining ${b?.remaining}, Requested ${adm.reason === 'requests' ? 1 : charge}. Please try again in ${Math.ceil(adm.retryAfterMs)}ms.`;
				return answerError(st, res, provider, 'rate_limit', msg, requestId, headers, adm.reason);
			}
		}
		st.accept(opts.now(), charge);

		const digest = promptDigest(call.prompt);
		const n = seenByDigest.get(digest) ?? 0;
		seenByDigest.set(digest, n + 1);
		const rng = requestRng(opts.seed, digest, n);
		const roll = rng();
		const latency = opts.latencyMs.min + rng() * (opts.latencyMs.max - opts.latencyMs.min);
		let fault: ForcedFaultKind | 'unknown' | undefined = forcedFault(call.prompt, n);
		if (fault === undefined) {
			const faults = opts.modelFaults[call.model] ?? opts.faults;
			let acc = 0;
			for (const k of FAULT_KINDS) {
				acc += faults[k] ?? 0;
				if (roll < acc) {
					fault = k;
					break;
				}
			}
		}
		if (fault === 'unknown') {
			return answerError(
				st,
				res,
				provider,
				'invalid_request',
				`Unknown sandbox directive in prompt; faults are ${FORCED_FAULT_KINDS.join(', ')}.`,
				requestId,
				headers,
			);
		}
		// A re-ask turn is answered correctly (the model was told what was wrong).
		if (fault === 'schemaViolation' && (call.reask || !call.schema)) fault = undefined;
		if (
			call.temperature === 0 &&
			call.schema &&
			!call.reask &&
			(fault === undefined || fault === 'schemaViolation')
		) {
			// Temperature 0: the identical request mostly gets the identical answer.
			const key = `${call.model}\u0000${digest}`;
			const first = firstAnswerAtT0.get(key);
			if (first === undefined) firstAnswerAtT0.set(key, fault === 'schemaViolation');
			else if (rng() < opts.sameAnswerAtTemperature0) fault = first ? 'schemaViolation' : undefined;
		}
		if (fault) st.faults[fault]++;

		if (fault === 'hang') {
			// Hold the socket without an answer; the client's timeout should fire first.
			const t = later(opts.hangMs, () => req.socket.destroy());
			res.once('close', () => {
				clearTimeout(t);
				timers.delete(t);
			});
			return;
		}
		if (latency > 0) await sleep(latency);

		switch (fault) {
			case 'reset':
				req.socket.destroy();
				return;
			case 'status400':
				return answerError(
					st,
					res,
					provider,
					'invalid_request',
					'Invalid request (sandbox fault status400).',
					requestId,
					headers,
				);
			case 'status401':
				return answerError(
					st,
					res,
					provider,
					'auth',
					provider === 'openai' ? MESSAGES.authOpenAi : MESSAGES.authAnthropic,
					requestId,
					headers,
				);
			case 'status429': {
				const ms = opts.fault429RetryAfterMs;
				headers['retry-after'] = String(Math.ceil(ms / 1000));
				headers['retry-after-ms'] = String(ms);
				return answerError(
					st,
					res,
					provider,
					'rate_limit',
					`Rate limit reached (sandbox fault status429). Please try again in ${Math.ceil(ms / 1000)}s.`,
					requestId,
					headers,
				);
			}
			case 'status500':
				return answerError(st, res, provider, 'server', MESSAGES.server, requestId, headers);
			case 'status503':
				return answerError(
					st,
					res,
					provider,
					'unavailable',
					MESSAGES.unavailable,
					requestId,
					headers,
				);
			case 'status529':
				return answerError(
					st,
					res,
					provider,
					'overloaded',
					provider === 'openai' ? MESSAGES.unavailable : MESSAGES.overloaded,
					requestId,
					headers,
				);
			case 'malformed': {
				st.status(200);
				const cut =
					provider === 'openai'
						? `{"id": "chatcmpl-${id}", "object": "chat.comp`
						: `{"id": "msg_${id}", "type": "mess`;
				return send(res, 200, cut, headers);
			}
			default:
				return answerSuccess(
					st,
					res,
					provider,
					call,
					digest,
					id,
					fault,
					inputTokens,
					headers,
					provider === 'anthropic'
						? anthropicCachePlan(body, call.model)
						: openAiCachePlan(body, call.model),
				);
		}
	}

	function answerSuccess(
		st: StatsRecorder,
		res: ServerResponse,
		provider: Dialect,
		call: ParsedCall,
		digest: string,
		id: string,
		fault: 'truncated' | 'contentPolicy' | 'schemaViolation' | undefined,
		inputTokens: number,
		headers: Record<string, string>,
		cachePlan: CachePlan | undefined,
	): void {
		const records = call.schema ? parseGroupPrompt(call.prompt) : undefined;
		let reply: { text: string; output?: unknown };
		if (records) {
			let answer = groupAnswer(records, call.schema);
			// Rolled from the records (not the per-request refs), so a run is reproducible.
			const groupRng = requestRng(
				opts.seed,
				promptDigest(records.map((r) => `${r.id}\u0000${r.text}`).join('\u0001')),
				0,
			);
			const roll = groupRng();
			const pick = groupRng();
			let acc = 0;
			for (const k of GROUP_FAULT_KINDS) {
				acc += opts.groupFaults[k] ?? 0;
				if (roll < acc) {
					answer = applyGroupFault(answer, k, pick);
					st.groupFaults[k]++;
					break;
				}
			}
			reply = { text: JSON.stringify(answer), output: answer };
		} else {
			reply = replyFor(
				{
					prompt: call.prompt,
					schema: call.schema,
					mode: call.jsonObject ? 'json_object' : 'text',
				},
				digest,
			);
		}
		if (fault === 'schemaViolation' && reply.output && typeof reply.output === 'object') {
			// Valid JSON that breaks the schema: the first required property is left out.
			const required = (call.schema?.required as string[] | undefined) ?? [];
			const broken = { ...(reply.output as Record<string, unknown>) };
			delete broken[required[0] ?? Object.keys(broken)[0]];
			reply = { text: JSON.stringify(broken), output: broken };
		}
		let text = reply.text;
		let finish: 'stop' | 'length' | 'content_filter' = 'stop';
		if (fault === 'truncated') {
			text = text.slice(0, Math.ceil(text.length / 2));
			finish = 'length';
		} else if (fault === 'contentPolicy') {
			text = MESSAGES.refusal;
			finish = 'content_filter';
		}
		const outputTokens = tokensForChars(text.length);
		const cacheUse = cache.use(cachePlan, opts.now());
		st.cache(cacheUse.use);
		const parts = {
			id,
			model: call.model,
			created: Math.floor(Date.now() / 1000),
			text,
			toolName: call.toolName,
			toolInput: reply.output,
			finish,
			inputTokens,
			outputTokens,
			cache: cacheUse.use,
		};
		const body = provider === 'openai' ? openAiCompletion(parts) : anthropicMessage(parts);
		st.status(200);
		if (fault) st.usage({ input: inputTokens, output: outputTokens });
		else st.success(digest, { input: inputTokens, output: outputTokens });
		send(res, 200, body, headers);
		cacheUse.commit(opts.now());
	}

	async function handleControl(
		path: string,
		query: URLSearchParams,
		req: IncomingMessage,
		res: ServerResponse,
	): Promise<void> {
		if (path === '/sandbox/stats' && req.method === 'GET') {
			const windowMs = Number(query.get('windowMs') ?? 60_000);
			const s = stats.snapshot();
			const { maxRequestsPerWindow, maxTokensPerWindow, ...plain } = s;
			return send(
				res,
				200,
				JSON.stringify({
					...plain,
					windowMs,
					maxRequestsPerWindow: maxRequestsPerWindow(windowMs),
					maxTokensPerWindow: maxTokensPerWindow(windowMs),
				}),
				{},
			);
		}
		if (path === '/sandbox/reset' && req.method === 'POST') {
			await readBody(req);
			api.reset();
			return send(res, 200, '{"ok":true}', {});
		}
		if (path === '/sandbox/config' && req.method === 'POST') {
			const raw = (await readBody(req)) ?? '';
			try {
				// JSON has no Infinity: null (or "Infinity") lifts a limit.
				const o = JSON.parse(raw || '{}', (_k, v) =>
					v === null || v === 'Infinity' ? Infinity : v,
				) as Partial<SandboxOptions>;
				if ('apiKeys' in o && !Array.isArray(o.apiKeys)) o.apiKeys = undefined;
				delete o.now;
				api.configure(o);
			} catch (e) {
				return send(
					res,
					400,
					JSON.stringify({
						error: { message: (e as Error).message, type: 'invalid_request_error' },
					}),
					{},
				);
			}
			return send(res, 200, JSON.stringify(publicOptions()), {});
		}
		return send(
			res,
			404,
			JSON.stringify({
				error: {
					message: `Unknown sandbox route ${req.method} ${path}`,
					type: 'invalid_request_error',
				},
			}),
			{},
		);
	}

	function publicOptions(): Record<string, unknown> {
		const { now: _now, apiKeys, ...rest } = opts;
		// Infinity becomes null in JSON; keys are never echoed.
		return { ...rest, apiKeys: apiKeys ? apiKeys.length : undefined };
	}

	function handleModels(path: string, req: IncomingMessage, res: ServerResponse): void {
		const anthropic =
			req.headers['x-api-key'] !== undefined || req.headers['anthropic-version'] !== undefined;
		const provider: Dialect = anthropic ? 'anthropic' : 'openai';
		const headers: Record<string, string> = {
			[anthropic ? 'request-id' : 'x-request-id']:
				`req_sbx${(++seq).toString(16).padStart(10, '0')}`,
		};
		const key = apiKeyOf(req);
		if (key === '' || (opts.apiKeys && !opts.apiKeys.includes(key))) {
			const { status, body } = errorAnswer(
				provider,
				'auth',
				anthropic ? MESSAGES.authAnthropic : MESSAGES.authOpenAi,
				headers['request-id'] ?? headers['x-request-id'],
			);
			return send(res, status, body, headers);
		}
		const created = Math.floor(Date.now() / 1000);
		if (path === '/v1/models') return send(res, 200, modelList(created), headers);
		return send(
			res,
			200,
			JSON.stringify(modelEntry(decodeURIComponent(path.slice('/v1/models/'.length)), created)),
			headers,
		);
	}

	const server: Server = createServer({ keepAlive: true }, (req, res) => {
		const q = req.url?.indexOf('?') ?? -1;
		const path = q >= 0 ? req.url!.slice(0, q) : (req.url ?? '/');
		let work: Promise<void> | void = undefined;
		if (req.method === 'POST' && path === '/v1/chat/completions')
			work = handleCall('openai', req, res);
		else if (req.method === 'POST' && path === '/v1/messages')
			work = handleCall('anthropic', req, res);
		else if (req.method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/')))
			work = handleModels(path, req, res);
		else if (batchApi.handle(req.method ?? 'GET', path, req, res)) work = undefined;
		else if (path.startsWith('/sandbox/'))
			work = handleControl(
				path,
				new URLSearchParams(q >= 0 ? req.url!.slice(q + 1) : ''),
				req,
				res,
			);
		else {
			req.resume();
			send(
				res,
				404,
				JSON.stringify({
					error: {
						message: `Unknown route ${req.method} ${path}`,
						type: 'invalid_request_error',
						code: 'not_found',
					},
				}),
				{},
			);
		}
		if (work) {
			work.catch((e: unknown) => {
				if (!res.headersSent && !res.destroyed)
					send(
						res,
						500,
						JSON.stringify({
							error: { message: `sandbox: ${(e as Error).message}`, type: 'server_error' },
						}),
						{},
					);
			});
		}
	});
	// Longer than the SDKs' idle keep-alive so a reused socket is not closed under a request;
	// no request timeout so a 'hang' fault holds as long as it is told to.
	server.keepAliveTimeout = 30_000;
	server.headersTimeout = 31_000;
	server.requestTimeout = 0;
	server.on('connection', () => stats.connections++);

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
		stats: () => stats.snapshot(),
		batch: batchApi,
		reset() {
			stats = new StatsRecorder();
			seenByDigest = new Map();
			firstAnswerAtT0 = new Map();
			cache.clear();
			firstCallAt = undefined;
			limiter = new AccountLimits(opts);
		},
		configure(o) {
			if (o.batch) batchApi.configure(o.batch);
			const next = resolve(o, opts);
			const rebuild =
				next.rpm !== opts.rpm ||
				next.tpm !== opts.tpm ||
				next.burstSeconds !== opts.burstSeconds ||
				next.now !== opts.now;
			const nextLimiter = rebuild ? new AccountLimits(next) : limiter;
			opts = next;
			limiter = nextLimiter;
		},
		close() {
			if (closed) return Promise.resolve();
			closed = true;
			for (const t of timers) clearTimeout(t);
			timers.clear();
			return new Promise<void>((res) => {
				server.close(() => res());
				server.closeAllConnections();
			});
		},
	};
	return api;
}
