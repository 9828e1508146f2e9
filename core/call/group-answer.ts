/**
 * A grouped request's text and its answer (Records per Request): the prompt that carries the
 * records with their refs, the schema of the answer, and how an answer is split into records —
 * attributed only beyond doubt, its usage shared out so the parts add up to what was paid.
 */
import type { GroupStats } from './group-stats';
import type { RunItem } from './types';
import type { SchemaValidator } from '../schema';
import type { LlmResult, Usage } from '../types';

export const GROUP_INSTRUCTIONS_TEXT =
	'You will receive several records, each in a <record id="…" ref="…"> block. Answer each record on its own, exactly as if it were the only one: the instructions above apply to every record. Return one JSON object with one key per record ID; its value is {"ref": the ref of that record, "answer": the answer for that record}. Answer every record exactly once and use no other keys.';

/** Escapes the closing tag inside a record so a record cannot end its block early. */
export function escapeRecordText(text: string): string {
	return text.replace(/<\/record>/gi, '<\\/record>');
}

/** The user message of a grouped request. */
export function groupPrompt(records: Array<{ id: string; ref: string; text: string }>): string {
	return records
		.map(
			(r) =>
				`<record id=${JSON.stringify(r.id)} ref="${r.ref}">\n${escapeRecordText(r.text)}\n</record>`,
		)
		.join('\n');
}

/**
 * JSON Schema of a grouped answer: an object whose every value is `{ ref, answer }`. The
 * record IDs are not in it, so the schema (a tool, for Anthropic) is the same for every
 * group and stays in the cached prefix; which IDs must be there is checked on the answer.
 */
export function groupSchema(
	recordSchema: Record<string, unknown> | undefined,
): Record<string, unknown> {
	return {
		type: 'object',
		additionalProperties: {
			type: 'object',
			properties: { ref: { type: 'string' }, answer: recordSchema ?? { type: 'string' } },
			required: ['ref', 'answer'],
			additionalProperties: false,
		},
	};
}

/**
 * Keys that occur more than once at the top level of a JSON object text (JSON.parse keeps
 * the last one silently). One pass over the text, strings and nesting skipped.
 */
export function duplicateTopLevelKeys(text: string): Set<string> {
	const seen = new Set<string>();
	const dup = new Set<string>();
	let depth = 0;
	let expectKey = false;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (c === '"') {
			let j = i + 1;
			while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
			if (depth === 1 && expectKey) {
				let key: string;
				try {
					key = JSON.parse(text.slice(i, j + 1)) as string;
				} catch {
					key = text.slice(i + 1, j);
				}
				if (seen.has(key)) dup.add(key);
				seen.add(key);
				expectKey = false;
			}
			i = j;
		} else if (c === '{' || c === '[') {
			depth++;
			if (depth === 1 && c === '{') expectKey = true;
		} else if (c === '}' || c === ']') depth--;
		else if (c === ',' && depth === 1) expectKey = true;
	}
	return dup;
}

/**
 * Integer shares of `total` by `weights` that add up to `total` exactly (largest
 * remainder); equal shares when every weight is 0.
 */
export function shareOut(total: number, weights: number[]): number[] {
	const n = weights.length;
	if (n === 0) return [];
	const sum = weights.reduce((a, b) => a + b, 0);
	const w = sum > 0 ? weights : weights.map(() => 1);
	const wsum = sum > 0 ? sum : n;
	const exact = w.map((x) => (total * x) / wsum);
	const out = exact.map(Math.floor);
	let rest = total - out.reduce((a, b) => a + b, 0);
	const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
	for (let k = 0; rest > 0; k = (k + 1) % n, rest--) out[order[k][1]]++;
	return out;
}

/** A request's usage in integer shares that add up to it: input by `inputWeights`, output by `outputWeights`. */
export function splitUsage(usage: Usage, inputWeights: number[], outputWeights: number[]): Usage[] {
	const input = shareOut(usage.inputTokens, inputWeights);
	const output = shareOut(usage.outputTokens, outputWeights);
	const cached = shareOut(usage.cachedInputTokens ?? 0, inputWeights);
	const write = shareOut(usage.cacheWriteTokens ?? 0, inputWeights);
	const write1h = shareOut(usage.cacheWrite1hTokens ?? 0, inputWeights);
	return input.map((inputTokens, i) => {
		const u: Usage = { inputTokens, outputTokens: output[i] };
		if (cached[i] > 0) u.cachedInputTokens = Math.min(cached[i], inputTokens);
		if (write[i] > 0) u.cacheWriteTokens = Math.min(write[i], inputTokens);
		if (write1h[i] > 0) u.cacheWrite1hTokens = write1h[i];
		if (usage.serviceTier !== undefined) u.serviceTier = usage.serviceTier;
		return u;
	});
}

export interface Member {
	item: RunItem;
	ref: string;
}

export interface Group {
	members: Member[];
	run: RunItem;
}

export const recordTokens = (item: RunItem) => Math.ceil(item.request.prompt.length / 4) + 12;

/**
 * The usage each accepted record's request would have had alone: the grouped request's counted
 * input less what the other records and grouping itself added (their record blocks, the group
 * instructions, the record's own framing), and the counted output in the share of the answer's
 * own text (the keys and refs around it left out), at ~4 characters a token. Batch Report
 * prices the naive counterfactual with it.
 */
function soloUsage(g: Group, result: LlmResult, answerChars: readonly number[]): Usage[] {
	const blocks = g.members.map(({ item, ref }) => ({
		chars: groupPrompt([{ id: item.recordId, ref, text: item.request.prompt }]).length,
		own: item.request.prompt.length,
	}));
	const all = blocks.reduce((n, b) => n + b.chars + 1, 0);
	const grouping = GROUP_INSTRUCTIONS_TEXT.length + 2;
	const text = Math.max(1, result.text.length);
	return blocks.map((b, i) => {
		const added = all - b.chars - 1 + grouping + (b.chars - b.own);
		return {
			inputTokens: Math.max(1, result.usage.inputTokens - Math.ceil(added / 4)),
			outputTokens: Math.max(1, Math.round((result.usage.outputTokens * answerChars[i]) / text)),
		};
	});
}

/** Splits one grouped answer into per-record results; records not answered beyond doubt go `again`. */
export function splitAnswer(
	g: Group,
	result: LlmResult,
	opts: { schema?: Record<string, unknown>; validate?: SchemaValidator },
	gs: GroupStats,
	costOf: (model: string, usage: Usage) => number | undefined,
): {
	accepted: Array<[RunItem, LlmResult]>;
	/** The record, its copy to send alone (carrying its share of the usage), and why. */
	again: Array<[RunItem, RunItem, keyof GroupStats['alone']]>;
} {
	const answer = result.output as Record<string, unknown>;
	const dups = duplicateTopLevelKeys(result.text);
	const sent = new Set(g.members.map((m) => m.item.recordId));
	for (const key of Object.keys(answer)) if (!sent.has(key)) gs.unsentIds++;

	type Verdict =
		| { ok: true; value: unknown; chars: number }
		| { ok: false; reason: keyof GroupStats['alone'] };
	const verdicts: Verdict[] = g.members.map(({ item, ref }) => {
		const id = item.recordId;
		if (!Object.hasOwn(answer, id)) return { ok: false, reason: 'missing' };
		if (dups.has(id)) return { ok: false, reason: 'duplicated' };
		const v = answer[id] as { ref?: unknown; answer?: unknown } | null;
		if (!v || typeof v !== 'object' || v.ref !== ref || !('answer' in v))
			return { ok: false, reason: 'mismatched' };
		if (opts.schema) {
			const issues = opts.validate?.(v.answer);
			if (issues && issues.length > 0) return { ok: false, reason: 'invalid' };
		} else if (typeof v.answer !== 'string') return { ok: false, reason: 'invalid' };
		return { ok: true, value: v.answer, chars: JSON.stringify(v.answer).length };
	});
	const shares = splitUsage(
		result.usage,
		g.members.map((m) => recordTokens(m.item)),
		verdicts.map((v) => (v.ok ? v.chars : 0)),
	);
	const solo = soloUsage(
		g,
		result,
		verdicts.map((v) => (v.ok ? v.chars : 0)),
	);
	const accepted: Array<[RunItem, LlmResult]> = [];
	const again: Array<[RunItem, RunItem, keyof GroupStats['alone']]> = [];
	g.members.forEach(({ item }, i) => {
		const v = verdicts[i];
		const usage = shares[i];
		if (!v.ok) {
			gs.alone[v.reason]++;
			// Its share of the grouped request is paid: it joins the record's own result.
			again.push([item, { ...item, priorUsage: usage, priorAttempts: result.attempts }, v.reason]);
			return;
		}
		gs.answered++;
		accepted.push([
			item,
			{
				recordId: item.recordId,
				output: v.value,
				text: typeof v.value === 'string' ? v.value : JSON.stringify(v.value),
				model: result.model,
				provider: result.provider,
				finishReason: result.finishReason,
				usage,
				costUsd: costOf(g.run.request.model, usage),
				attempts: result.attempts,
				latencyMs: result.latencyMs,
				cached: false,
				promptHash: item.promptHash,
				...(item.inputHash === undefined ? {} : { inputHash: item.inputHash }),
				completedAt: result.completedAt,
				groupSize: g.members.length,
				soloUsage: solo[i],
				...(result.serviceTier === undefined ? {} : { serviceTier: result.serviceTier }),
			},
		]);
	});
	return { accepted, again };
}
