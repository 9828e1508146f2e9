import { createHash } from 'node:crypto';

/** Deterministic JSON: object keys sorted, so equal content hashes equally. */
export function stableStringify(value: unknown): string {
	if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
	if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
	const obj = value as Record<string, unknown>;
	const keys = Object.keys(obj)
		.filter((k) => obj[k] !== undefined)
		.sort();
	return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(',')}}`;
}

export function sha256(text: string): string {
	return createHash('sha256').update(text).digest('hex');
}

/**
 * What makes two calls the same call: a changed prompt, model, schema or sampling setting
 * makes an old result stale. Used as the ledger's staleness key and the response-cache key.
 */
export function promptHash(p: {
	provider: string;
	model: string;
	system?: string;
	prompt: string;
	schema?: unknown;
	temperature?: number;
	maxTokens: number;
}): string {
	return sha256(
		stableStringify([
			p.provider,
			p.model,
			p.system ?? '',
			p.prompt,
			p.schema ?? null,
			p.temperature ?? null,
			p.maxTokens,
		]),
	).slice(0, 32);
}

/**
 * Hash of the text of a call alone (system prompt + prompt), stored with each result as
 * `inputHash`: Batch Ledger's Skip Completed, which knows the prompt but not the model or
 * settings, compares it to tell a changed prompt from a done record.
 */
export function inputHash(system: string, prompt: string): string {
	return sha256(stableStringify(['input', system, prompt])).slice(0, 32);
}
