/** Record IDs and content dedupe from the stable JSON of chosen fields. */
import { sha256, stableStringify } from '../hash';
import { getPath, type Json } from '../paths';

/** The chosen fields (empty: the whole item minus `exclude`), as hashed and counted. */
export function contentOf(
	json: Json,
	fields: readonly string[],
	exclude: readonly string[],
): unknown {
	if (fields.length === 0) {
		const rest: Json = { ...json };
		for (const key of exclude) delete rest[key];
		return rest;
	}
	const picked: Json = {};
	for (const field of fields) picked[field] = getPath(json, field);
	return picked;
}

/** sha256 of the stable JSON of the chosen fields, 16 hex chars (64 bits). */
export function contentHash(
	json: Json,
	fields: readonly string[],
	exclude: readonly string[] = [],
): string {
	return sha256(stableStringify(contentOf(json, fields, exclude))).slice(0, 16);
}
