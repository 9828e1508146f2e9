/**
 * Record IDs as the Record ID parameter resolves them, and the input's duplicate IDs. One
 * place for LLM Batch Call, LLM Batch Job Submit and Batch Prepare: a broken ID is the item's
 * `invalid_input` naming the parameter and what it resolved to, never a silent stand-in.
 */
import type { ItemError } from './types';

/** What the parameter gave for one item. */
export interface RecordIdInput {
	/** The resolved value (when the expression did not throw). */
	value?: unknown;
	/** The expression threw (a missing field read too deep, a syntax error). */
	thrown?: unknown;
	/**
	 * Whether the parameter is an expression. A literal empty parameter means "no IDs: hash the
	 * prompt"; an expression that resolves to an empty string is a broken expression.
	 */
	expression: boolean;
}

/**
 * `id` undefined: no ID given (the field is absent, the parameter empty); the caller hashes the
 * prompt. `problem` says what the value was, e.g. "resolved to null".
 */
export type RecordIdResolution =
	| { ok: true; id: string | undefined }
	| { ok: false; problem: string };

const MAX_SHOWN = 60;

function shown(value: unknown): string {
	let text: string;
	try {
		text = JSON.stringify(value) ?? String(value);
	} catch {
		text = String(value);
	}
	return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

const broken = (problem: string): RecordIdResolution => ({ ok: false, problem });

/** One item's record ID, or what is wrong with the value. */
export function resolveRecordId(input: RecordIdInput): RecordIdResolution {
	if (input.thrown !== undefined) {
		const reason =
			input.thrown instanceof Error ? input.thrown.message : String(input.thrown ?? 'error');
		return broken(`could not be resolved (${reason.slice(0, 200)})`);
	}
	const v = input.value;
	if (v === undefined) return { ok: true, id: undefined };
	if (typeof v === 'number')
		return Number.isFinite(v) ? { ok: true, id: String(v) } : broken(`resolved to ${v}`);
	if (typeof v === 'string') {
		const id = v.trim();
		if (id !== '') return { ok: true, id };
		return input.expression ? broken('resolved to an empty string') : { ok: true, id: undefined };
	}
	if (v === null) return broken('resolved to null');
	if (Array.isArray(v)) return broken(`resolved to a list (${shown(v)})`);
	if (typeof v === 'object') return broken(`resolved to an object (${shown(v)})`);
	return broken(`resolved to ${typeof v} ${shown(v)}`);
}

/** The per-item error of a broken Record ID parameter (LLM Batch Call, LLM Batch Job Submit). */
export function recordIdError(problem: string): ItemError {
	const message = `Record ID ${problem}: it must resolve to a non-empty text or a number. Fix the Record ID expression (e.g. {{ $json.id }}), or give every item an ID (Batch Prepare adds \`recordId\`).`;
	return {
		code: 'invalid_input',
		message,
		retryable: false,
		attempts: 0,
		issues: [{ path: 'recordId', message, code: 'recordId' }],
	};
}

/** Record IDs that more than one input item carries. */
export interface DuplicateIds {
	/** The first few duplicated IDs with how many items carry each. */
	first: Array<{ id: string; items: number }>;
	/** How many distinct IDs are duplicated, and how many items carry one of them. */
	ids: number;
	items: number;
}

const SHOWN_IDS = 5;

export function duplicateRecordIds(ids: Iterable<string>): DuplicateIds | undefined {
	const counts = new Map<string, number>();
	for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
	const dup = [...counts].filter(([, n]) => n > 1);
	if (dup.length === 0) return undefined;
	return {
		first: dup.slice(0, SHOWN_IDS).map(([id, items]) => ({ id, items })),
		ids: dup.length,
		items: dup.reduce((sum, [, n]) => sum + n, 0),
	};
}

/** The node hint for duplicate IDs. */
export function describeDuplicateIds(d: DuplicateIds): string {
	const list = d.first.map((x) => `"${shown(x.id).slice(1, -1)}" (${x.items}×)`).join(', ');
	const more = d.ids > d.first.length ? ` and ${d.ids - d.first.length} more` : '';
	return `Duplicate record IDs in the input: ${list}${more} — ${d.ids} ID${d.ids === 1 ? '' : 's'} shared by ${d.items} items. Items with one ID are one record in the ledger: give every record its own ID (Batch Prepare can dedupe).`;
}

/**
 * The hint for items whose Record ID expression resolved to nothing (a missing field, or an
 * error n8n turns into an empty value): they are not failed — a prompt-hash ID is the
 * documented fallback — but not silently either.
 */
export function describeUnnamed(items: number): string {
	return `${items} item${items === 1 ? '' : 's'}: the Record ID expression resolved to nothing (a missing field, or an error in the expression), so the record ID was made from the prompt (h:…). Set Record ID to a field every item has to keep IDs stable when the prompt changes.`;
}
