import { sha256 } from '../hash';

/**
 * What both providers accept as a `custom_id` (Anthropic documents `^[a-zA-Z0-9_-]{1,64}$`;
 * OpenAI only asks for uniqueness, so the stricter rule serves both).
 */
const ALLOWED = /^[a-zA-Z0-9_-]{1,64}$/;
/** The shape of a hashed ID: a record ID that already looks like one is hashed too, so no two records share a custom_id. */
const HASHED = /^h_[0-9a-f]{40}$/;

/**
 * The `custom_id` of a record: the record ID itself when the provider accepts it, else
 * `h_` + 40 hex characters of its SHA-256. Derived from the record ID only (never from the
 * position), so results match their records after any rerun or reordering.
 */
export function customIdFor(recordId: string): string {
	if (ALLOWED.test(recordId) && !HASHED.test(recordId)) return recordId;
	return `h_${sha256(recordId).slice(0, 40)}`;
}
