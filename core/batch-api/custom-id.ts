import { randomBytes } from 'node:crypto';

import { sha256 } from '../hash';

/**
 * What both providers accept as a `custom_id` (Anthropic documents `^[a-zA-Z0-9_-]{1,64}$`;
 * OpenAI only asks for uniqueness, so the stricter rule serves both).
 */
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** The shape of a hashed ID: a record ID that already looks like one is hashed too, so no two records share a custom_id. */
const HASHED = /^h_[0-9a-f]{40}$/;

/** Characters of a submission nonce: lowercase letters and digits (36^12 ≈ 2^62 values). */
export const NONCE_LENGTH = 12;
const NONCE = /^[0-9a-z]{12}$/;
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Room left in a custom_id for the record part, after the nonce and its dash. */
const RECORD_PART_MAX = 64 - NONCE_LENGTH - 1;
const RECORD_PART = new RegExp(`^[a-zA-Z0-9_-]{1,${RECORD_PART_MAX}}$`);

/**
 * A fresh submission nonce, written to the ledger before the batch is created and carried in
 * every custom_id of the batch (and in OpenAI's metadata): what proves a provider's batch is
 * this submission's, whoever else submits the same record IDs.
 */
export function newSubmissionNonce(): string {
	const bytes = randomBytes(NONCE_LENGTH * 2);
	let out = '';
	// Rejection sampling: 252 = 7 × 36, so every character is equally likely.
	for (const b of bytes) {
		if (b < 252) out += ALPHABET[b % 36];
		if (out.length === NONCE_LENGTH) return out;
	}
	return out + newSubmissionNonce().slice(out.length);
}

export function isSubmissionNonce(nonce: string): boolean {
	return NONCE.test(nonce);
}

/**
 * The `custom_id` of a record in the submission `nonce`: the nonce, a dash, then the record
 * ID itself when it fits (readable in the provider's console), else `h_` + 40 hex characters
 * of its SHA-256 — at most 55 characters in all. The ledger maps each custom_id back to its
 * record, so results join whatever order they come back in.
 */
export function customIdFor(nonce: string, recordId: string): string {
	if (!NONCE.test(nonce)) throw new TypeError(`Expected a submission nonce, got ${nonce}`);
	const part =
		RECORD_PART.test(recordId) && !HASHED.test(recordId)
			? recordId
			: `h_${sha256(recordId).slice(0, 40)}`;
	const id = `${nonce}-${part}`;
	// Unreachable by construction; checked because a provider refuses the whole batch for one.
	if (!CUSTOM_ID.test(id)) throw new RangeError(`custom_id ${id} is not one a provider accepts`);
	return id;
}

/** Whether a result line's custom_id belongs to the submission `nonce`. */
export function carriesNonce(customId: string, nonce: string): boolean {
	return NONCE.test(nonce) && customId.length > NONCE_LENGTH && customId.startsWith(`${nonce}-`);
}
