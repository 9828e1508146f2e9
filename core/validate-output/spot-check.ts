/**
 * Spot checks: a share of VALID answers also goes to a person (Review), so quality is sampled on
 * every run and not only when a rule fires. The pick is a hash of the record ID (and a seed),
 * not a random draw: the same record is picked, or not, on every run, rerun and retry, so a
 * reviewer never sees it twice by chance and a sample can be reproduced; another seed draws
 * another sample of the same share.
 */
import { sha256, stableStringify } from '../hash';
import { getPath, type Json } from '../paths';

/** The review reason a spot check carries (a machine word: the other reasons are sentences). */
export const SPOT_CHECK_REASON = 'spot_check';

export interface SpotCheckConfig {
	/** Share of valid answers, in %, also sent to Review; 0 = none. */
	readonly percent: number;
	/** Mixed into the pick; another seed picks another sample. @default '' */
	readonly seed: string;
	/** Where the record ID is read. @default 'llm.recordId' */
	readonly recordIdField: string;
}

/** Whether the record `key` is in the spot-check sample: uniform over keys, stable per key. */
export function isSpotChecked(
	key: string,
	config: Pick<SpotCheckConfig, 'percent' | 'seed'>,
): boolean {
	if (config.percent <= 0) return false;
	if (config.percent >= 100) return true;
	// 48 bits of the hash as a number in [0, 1): plenty for a share given to 0.01 %.
	const draw = parseInt(sha256(`${config.seed}\u0000${key}`).slice(0, 12), 16) / 2 ** 48;
	return draw * 100 < config.percent;
}

/**
 * What the pick is keyed on: the item's record ID, or — an item without one — its parsed answer
 * (the same answer is picked or not the same way).
 */
export function spotCheckKey(json: Json, value: unknown, recordIdField: string): string {
	const id = recordIdField === '' ? undefined : getPath(json, recordIdField);
	if ((typeof id === 'string' && id !== '') || typeof id === 'number') return `id:${String(id)}`;
	return `answer:${stableStringify(value)}`;
}
