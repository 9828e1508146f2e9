import { randomBytes } from 'node:crypto';

import { sha256 } from '../hash';

/**
 * What both providers accept as a `custom_id` (Anthropic documents `^[a-zA-Z0-9_-]{1,64}$`;
 * OpenAI only asks for uniqueness, so the stricter rule serves both).
 */
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** The shape of a hashed ID: a record ID that already looks like one is hashed too, so no two records share a custom_id. */
const HASHED = /^h_[0-9a-f]{40}$/;
/**
 * The record part of a grouped request's custom_id: `g`, the number of records, `_`, the
 * request's position in its submission (base 36). A record ID of that shape is hashed, so a
 * record's custom_id never looks like a group's.
 */
const GROUP_PART = /^g([0-9]{1,3})_[0-9a-z]{1,8}$/;
/**
 * Between a grouped request's custom_id and a member's position, in the ledger entry of each
 * record it carries (never sent: a provider sees only the request's own custom_id).
 */
const MEMBER_SEP = '~';

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
		RECORD_PART.test(recordId) && !HASHED.test(recordId) && !GROUP_PART.test(recordId)
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

/**
 * The `custom_id` of the `seq`-th grouped request (Records per Request) of the submission
 * `nonce`, carrying `size` records: the nonce, then `g<size>_<seq>`. The size is in it so
 * Collect knows, from the result line alone, which ledger entries to join (memberCustomId).
 */
export function groupCustomIdFor(nonce: string, seq: number, size: number): string {
	if (!NONCE.test(nonce)) throw new TypeError(`Expected a submission nonce, got ${nonce}`);
	if (!Number.isInteger(size) || size < 2 || size > 999)
		throw new RangeError(`A grouped request carries 2 to 999 records, got ${size}`);
	return `${nonce}-g${size}_${seq.toString(36)}`;
}

/** How many records the grouped request of this custom_id carries; undefined for a single record's. */
export function groupSizeOf(customId: string): number | undefined {
	const part = customId.slice(NONCE_LENGTH + 1);
	const m = GROUP_PART.exec(part);
	return customId[NONCE_LENGTH] === '-' && m ? Number(m[1]) : undefined;
}

/** The ledger's custom ID of the record at `position` in the grouped request `groupCustomId`. */
export function memberCustomId(groupCustomId: string, position: number): string {
	return `${groupCustomId}${MEMBER_SEP}${position}`;
}

/** Whether a ledger entry's custom ID is a grouped request's member (its record was sent in a group). */
export function isMemberCustomId(customId: string): boolean {
	return customId.includes(MEMBER_SEP);
}

/**
 * The ref of a record in a grouped request: the check that an answer carries back. Drawn
 * from the submission's random nonce (so a model cannot guess it), and made again by Collect
 * from the custom_id, so the ledger need not store it.
 */
export function groupRef(nonce: string, recordId: string): string {
	return sha256(`${nonce}\u0000${recordId}`).slice(0, 8);
}
