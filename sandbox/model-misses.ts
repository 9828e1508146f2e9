/**
 * A cheap model that is wrong, and unsure, on a share of the items: what a cheap-first
 * cascade is built for. For a model named in `modelMisses`, the prompts it misses are picked
 * per (seed, model, prompt) — the same items on every run and every retry — and get an answer
 * whose enum properties are all shifted to another value (wrong) with a `confidence` below
 * 0.5 (it says it is unsure); its other answers are the normal reply with a `confidence` of at
 * least 0.9. Models not named answer as always. Structured single-record answers only: a
 * grouped answer and plain text are left as they are.
 */
import { createHash } from 'node:crypto';

import type { JsonSchema } from './reply';

interface Reply {
	text: string;
	output?: unknown;
}

/** Uniform in [0, 1) from (seed, model, digest): the same for every request of the prompt. */
function unit(seed: number, model: string, digest: string, salt: string): number {
	const h = createHash('sha256').update(`${seed}:${model}:${digest}:${salt}`).digest();
	return h.readUInt32BE(0) / 2 ** 32;
}

/** True when `model` misses this prompt (see `SandboxOptions.modelMisses`). */
export function missesPrompt(
	misses: Readonly<Record<string, number>>,
	seed: number,
	model: string,
	digest: string,
): boolean {
	const share = misses[model];
	return share !== undefined && unit(seed, model, digest, 'miss') < share;
}

/** Another value of the enum than the one given (the next one, wrapping). */
function otherValue(schema: JsonSchema, value: unknown): unknown {
	const options = schema.enum as unknown[] | undefined;
	if (!Array.isArray(options) || options.length < 2) return value;
	const at = options.indexOf(value);
	return options[(at + 1) % options.length];
}

/** Three decimals in [lo, hi), from the prompt. */
function confidenceIn(lo: number, hi: number, u: number): number {
	return Math.round((lo + u * (hi - lo)) * 1000) / 1000;
}

/** The reply of `model` to this prompt under `modelMisses` (unchanged for other models). */
export function withModelMiss(
	reply: Reply,
	schema: JsonSchema | undefined,
	misses: Readonly<Record<string, number>>,
	seed: number,
	model: string,
	digest: string,
): Reply {
	if (misses[model] === undefined || !schema || !reply.output) return reply;
	if (typeof reply.output !== 'object' || Array.isArray(reply.output)) return reply;
	const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
	const out = { ...(reply.output as Record<string, unknown>) };
	const u = unit(seed, model, digest, 'confidence');
	const missed = missesPrompt(misses, seed, model, digest);
	for (const [key, sub] of Object.entries(props)) {
		if (missed && Array.isArray(sub?.enum)) out[key] = otherValue(sub, out[key]);
	}
	if ('confidence' in out)
		out.confidence = missed ? confidenceIn(0.05, 0.45, u) : confidenceIn(0.9, 0.99, u);
	return { text: JSON.stringify(out), output: out };
}
