/**
 * Multi-record prompts (LLM Batch Call's "Records per Request"): the sandbox answers each
 * record exactly as it answers that record's text sent alone, so a test can check every
 * record's answer, and can be told to drop, duplicate or swap records in a share of grouped
 * answers to prove that nothing is ever attributed to the wrong record.
 */
import { plainReply, promptDigest, replyFor, type JsonSchema } from './reply';

export const GROUP_FAULT_KINDS = ['drop', 'duplicate', 'swap'] as const;
export type GroupFaultKind = (typeof GROUP_FAULT_KINDS)[number];

export interface GroupRecord {
	id: string;
	ref: string;
	text: string;
}

const RECORD_RE = /<record id=("(?:[^"\\]|\\.)*") ref="([^"]*)">\n([\s\S]*?)\n<\/record>/g;

/** The records of a grouped prompt, or undefined when the prompt is not one. */
export function parseGroupPrompt(prompt: string): GroupRecord[] | undefined {
	if (!prompt.startsWith('<record id=')) return undefined;
	const out: GroupRecord[] = [];
	for (const m of prompt.matchAll(RECORD_RE)) {
		let id: string;
		try {
			id = JSON.parse(m[1]) as string;
		} catch {
			return undefined;
		}
		out.push({ id, ref: m[2], text: m[3].replace(/<\\\/record>/gi, '</record>') });
	}
	return out.length > 0 ? out : undefined;
}

/** Each record's answer: `{ ref, answer }` with the answer it gets when sent alone. */
export function groupAnswer(
	records: GroupRecord[],
	schema: JsonSchema | undefined,
): Record<string, { ref: string; answer: unknown }> {
	// Each value's schema: `additionalProperties` (one schema for every ID) or the ID's own.
	const props = (schema?.properties ?? {}) as Record<string, JsonSchema>;
	const every = schema?.additionalProperties;
	const out: Record<string, { ref: string; answer: unknown }> = {};
	for (const r of records) {
		const value =
			props[r.id] ?? (every && typeof every === 'object' ? (every as JsonSchema) : undefined);
		const answerSchema = (value?.properties as Record<string, JsonSchema> | undefined)?.answer;
		const digest = promptDigest(r.text);
		const answer =
			!answerSchema || answerSchema.type === 'string'
				? plainReply(r.text, digest)
				: replyFor({ prompt: r.text, schema: answerSchema }, digest).output;
		out[r.id] = { ref: r.ref, answer };
	}
	return out;
}

/**
 * Applies a grouped-answer fault: `drop` leaves a record out, `duplicate` answers one
 * record twice (its entry also under another record's ID), `swap` exchanges two records'
 * entries. `pick` is a uniform in [0, 1) choosing the records.
 */
export function applyGroupFault(
	answer: Record<string, { ref: string; answer: unknown }>,
	kind: GroupFaultKind,
	pick: number,
): Record<string, { ref: string; answer: unknown }> {
	const ids = Object.keys(answer);
	if (ids.length === 0) return answer;
	const a = Math.floor(pick * ids.length);
	const b = (a + 1) % ids.length;
	const out = { ...answer };
	if (kind === 'drop') delete out[ids[a]];
	else if (ids.length > 1 && kind === 'duplicate') out[ids[b]] = out[ids[a]];
	else if (ids.length > 1) {
		out[ids[a]] = answer[ids[b]];
		out[ids[b]] = answer[ids[a]];
	}
	return out;
}
