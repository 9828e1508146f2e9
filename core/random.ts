/** Seeded randomness shared by Batch Prepare's sampling and the sandbox's fault rolls. */

/**
 * Seeded PRNG (mulberry32): a pilot sample must be reproducible from its seed, which
 * Math.random cannot give. Six lines do not justify a dependency.
 */
export function seededRandom(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/** `size` positions out of `n`, uniformly (partial Fisher-Yates), returned in ascending order. */
export function samplePositions(n: number, size: number, random: () => number): number[] {
	const positions = Array.from({ length: n }, (_, i) => i);
	const k = Math.min(size, n);
	for (let i = 0; i < k; i++) {
		const j = i + Math.floor(random() * (n - i));
		[positions[i], positions[j]] = [positions[j], positions[i]];
	}
	return positions.slice(0, k).sort((a, b) => a - b);
}
