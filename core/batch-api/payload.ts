/**
 * What the ledger keeps of a submitted record to retry it and to emit it again: its input
 * item and its request, with the prompt's text stored once. A prompt built from an item field
 * (`{{ $json.text }}`, or a template around it) holds that field's text a second time; the
 * stored request refers to the field instead, so a 100 KB record costs 100 KB, not 200.
 */
import type { ChatRequest } from '../call/providers/types';

/** Texts shorter than this are stored as they are: a reference would save next to nothing. */
const MIN_SHARED = 256;

/** A prompt (or system prompt) stored as `before` + the item's field + `after`. */
interface FieldRef {
	$itemField: string;
	before: string;
	after: string;
}

function isRef(v: unknown): v is FieldRef {
	return (
		typeof v === 'object' &&
		v !== null &&
		typeof (v as FieldRef).$itemField === 'string' &&
		typeof (v as FieldRef).before === 'string' &&
		typeof (v as FieldRef).after === 'string'
	);
}

/** The longest top-level string field of the item that the text contains, as a reference. */
function refTo(text: string, item: Record<string, unknown>): FieldRef | undefined {
	if (text.length < MIN_SHARED) return undefined;
	let best: FieldRef | undefined;
	let bestLength = 0;
	for (const [field, value] of Object.entries(item)) {
		if (typeof value !== 'string' || value.length < MIN_SHARED || value.length <= bestLength)
			continue;
		const at = text.indexOf(value);
		if (at < 0) continue;
		best = { $itemField: field, before: text.slice(0, at), after: text.slice(at + value.length) };
		bestLength = value.length;
	}
	return best;
}

/** The request as the ledger stores it beside `item`. */
export function packRequest(request: ChatRequest, item: Record<string, unknown>): string {
	const prompt = refTo(request.prompt, item);
	const system = request.system === undefined ? undefined : refTo(request.system, item);
	if (!prompt && !system) return JSON.stringify(request);
	return JSON.stringify({
		...request,
		...(prompt ? { prompt } : {}),
		...(system ? { system } : {}),
	});
}

/** The request packRequest stored, whole again (stored requests of older versions pass as they are). */
export function unpackRequest(packed: string, item: Record<string, unknown>): ChatRequest {
	const request = JSON.parse(packed) as Record<string, unknown>;
	for (const key of ['prompt', 'system'] as const) {
		const v = request[key];
		if (!isRef(v)) continue;
		const field = item[v.$itemField];
		if (typeof field !== 'string')
			throw new TypeError(`The stored request refers to item field ${v.$itemField}, which is gone`);
		request[key] = v.before + field + v.after;
	}
	return request as unknown as ChatRequest;
}

/**
 * The request with its prompt (and system prompt) sharing the item field's string when the
 * two are equal: the prompt an expression resolved is a copy, and for 1,900 prompts of 100 KB
 * the copies are 190 MB held through the whole Submit.
 */
export function shareItemText(request: ChatRequest, item: Record<string, unknown>): ChatRequest {
	const same = (text: string | undefined): string | undefined => {
		if (text === undefined || text.length < MIN_SHARED) return text;
		for (const value of Object.values(item)) if (value === text) return value;
		return text;
	};
	const system = same(request.system);
	return { ...request, prompt: same(request.prompt)!, ...(system === undefined ? {} : { system }) };
}
