/**
 * Answer identity: when a stored answer may stand in for a call. An answer is reused — from
 * the ledger, the response cache, a Submit's "already succeeded" skip — only for the same
 * provider, endpoint, credential, model, prompts and settings. Every path that reuses an
 * answer compares the one string `answerIdentity` makes; none keeps its own key.
 *
 * The identity is `<call hash>:<scope>`: the call hash (provider, model, prompts, settings)
 * and the scope (provider, normalised endpoint, credential fingerprint). Keeping the two
 * halves readable lets a miss say why: another endpoint or credential, or an answer stored
 * before the scope was part of the identity.
 */
import { createHash, scryptSync } from 'node:crypto';

import { sha256, stableStringify } from './hash';
import type { ProviderName } from './types';

/** The endpoint each provider's SDK calls when the credential names none. */
const DEFAULT_ENDPOINT: Record<ProviderName, string> = {
	openai: 'https://api.openai.com/v1',
	anthropic: 'https://api.anthropic.com',
	gemini: 'https://generativelanguage.googleapis.com',
};

/**
 * One spelling per endpoint: the provider's default for an empty Base URL, scheme and host
 * lower-cased, the default port and trailing slashes dropped. An unparsable URL is kept as
 * typed (trimmed): it cannot have answered anything anyway.
 */
export function normalisedEndpoint(provider: ProviderName, baseUrl: string | undefined): string {
	const raw = (baseUrl ?? '').trim() || DEFAULT_ENDPOINT[provider];
	try {
		const url = new URL(raw);
		const path = url.pathname.replace(/\/+$/, '');
		return `${url.protocol}//${url.host}${path}${url.search}`;
	} catch {
		return raw.replace(/\/+$/, '');
	}
}

/** scrypt cost: ~30 ms and 16 MB per guess, so a short key cannot be found by trying them. */
const SCRYPT = { N: 1 << 14, r: 8, p: 1 } as const;
const FINGERPRINT_SALT = 'n8n-nodes-llm-batch/credential-fingerprint/v1';
/** Fingerprints by a plain hash of the key: the key itself is not kept in memory here. */
const fingerprints = new Map<string, string>();

/**
 * Tells two credentials apart without storing either: a slow salted hash (scrypt) of the API
 * key. Computed once per key and process.
 */
export function credentialFingerprint(apiKey: string): string {
	const memo = createHash('sha256').update(`${FINGERPRINT_SALT}:${apiKey}`).digest('hex');
	let out = fingerprints.get(memo);
	if (out === undefined) {
		out = scryptSync(apiKey, FINGERPRINT_SALT, 16, SCRYPT).toString('hex');
		if (fingerprints.size >= 64) fingerprints.clear();
		fingerprints.set(memo, out);
	}
	return out;
}

/** Where answers come from: provider, endpoint, credential (fingerprint). Built once per run. */
export function answerScope(
	provider: ProviderName,
	baseUrl: string | undefined,
	apiKey: string,
): string {
	return sha256(
		stableStringify([
			'answer-scope',
			provider,
			normalisedEndpoint(provider, baseUrl),
			credentialFingerprint(apiKey),
		]),
	).slice(0, 16);
}

/** What is asked: the same call gets the same answer from the same endpoint. */
export interface CallContent {
	provider: string;
	model: string;
	system?: string;
	prompt: string;
	schema?: unknown;
	temperature?: number;
	maxTokens: number;
}

/**
 * Hash of the call alone (no endpoint, no credential). The formula is the one ledgers stored
 * as the whole identity before the scope was added, so such rows are recognised (see
 * `storedAnswerVerdict`). Also the seed of a record ID made from the prompt, which must not
 * change with the endpoint.
 */
export function callHash(c: CallContent): string {
	return sha256(
		stableStringify([
			c.provider,
			c.model,
			c.system ?? '',
			c.prompt,
			c.schema ?? null,
			c.temperature ?? null,
			c.maxTokens,
		]),
	).slice(0, 32);
}

/** The identity a stored answer is kept and looked up under (ledger `prompt_hash`, `llm.promptHash`). */
export function answerIdentity(scope: string, call: CallContent): string {
	return `${callHash(call)}:${scope}`;
}

/**
 * Why a stored answer is, or is not, the answer to a call:
 * - `reuse`: the same identity;
 * - `other_scope`: the same call answered by another endpoint or credential (a dry run, another
 *   account) — sent again;
 * - `before_scope`: stored by a version whose identity had no endpoint or credential. Nothing
 *   tells which endpoint answered it (it may be a dry-run server's), so it is sent again once
 *   rather than published: paying once more is recoverable, a wrong answer on Success is not;
 * - `stale`: another call (prompt, model or settings changed).
 */
export type StoredAnswerVerdict = 'reuse' | 'other_scope' | 'before_scope' | 'stale';

export function storedAnswerVerdict(stored: string, wanted: string): StoredAnswerVerdict {
	if (stored === wanted) return 'reuse';
	const cut = wanted.indexOf(':');
	const call = cut < 0 ? wanted : wanted.slice(0, cut);
	if (stored === call) return 'before_scope';
	if (cut >= 0 && stored.startsWith(`${call}:`)) return 'other_scope';
	return 'stale';
}

/** Stored answers of a run's records that were not reused, by why. */
export interface NotReused {
	otherScope: number;
	beforeScope: number;
}

export function countNotReused(into: NotReused, verdict: StoredAnswerVerdict): void {
	if (verdict === 'other_scope') into.otherScope++;
	else if (verdict === 'before_scope') into.beforeScope++;
}

/** The hint's words for `NotReused`; undefined when every stored answer was usable. */
export function describeNotReused(n: NotReused): string | undefined {
	const parts: string[] = [];
	if (n.otherScope > 0)
		parts.push(
			`${n.otherScope} stored answers came from another endpoint or credential: sent again`,
		);
	if (n.beforeScope > 0)
		parts.push(
			`${n.beforeScope} stored answers were saved before answers were tied to an endpoint and credential: sent again once`,
		);
	return parts.length > 0 ? parts.join('; ') : undefined;
}

/**
 * Hash of the text of a call alone (system prompt + prompt), stored with each result as
 * `inputHash`: Batch Ledger's Skip Completed, which knows the prompt but not the model,
 * settings, endpoint or credential, compares it to tell a changed prompt from a done record.
 */
export function inputHash(system: string, prompt: string): string {
	return sha256(stableStringify(['input', system, prompt])).slice(0, 32);
}
