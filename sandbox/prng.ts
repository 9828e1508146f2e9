/**
 * Seeded randomness for fault and latency rolls. Each roll is keyed by (seed, prompt digest,
 * n-th accepted request of that digest), not by arrival order, so a run is reproducible
 * under any concurrency and a retry of the same prompt rolls again.
 */

import { seededRandom } from '../core/random';

// murmur3's finalizer: spreads every input bit over the 32-bit state.
function fmix32(h: number): number {
	h ^= h >>> 16;
	h = Math.imul(h, 0x85ebca6b);
	h ^= h >>> 13;
	h = Math.imul(h, 0xc2b2ae35);
	h ^= h >>> 16;
	return h >>> 0;
}

/** A small PRNG (mulberry32) returning uniforms in [0, 1): the one core uses for sampling. */
export const mulberry32 = seededRandom;

/** The random stream of the `n`-th request of the prompt with this (hex) digest. */
export function requestRng(seed: number, digest: string, n: number): () => number {
	const hi = parseInt(digest.slice(0, 8), 16) >>> 0;
	const lo = parseInt(digest.slice(8, 16), 16) >>> 0;
	let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
	h = fmix32(h ^ hi);
	h = fmix32(h ^ lo);
	h = fmix32(h ^ (n >>> 0));
	return mulberry32(h);
}
