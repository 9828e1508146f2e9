import type { INodeProperties } from 'n8n-workflow';

/**
 * The defaults a node's parameters declare, by parameter name: what the editor shows is what
 * params.ts falls back to, declared once in the description. The first parameter of a name
 * counts (a name shown for several operations has one default).
 */
export function defaultsOf(properties: readonly INodeProperties[]): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const p of properties) if (!(p.name in out)) out[p.name] = p.default;
	return out;
}

/** The defaults of the options inside a collection parameter (e.g. Options), by option name. */
export function optionDefaultsOf(
	properties: readonly INodeProperties[],
	collection: string,
): Record<string, unknown> {
	const found = properties.find((p) => p.name === collection && p.type === 'collection');
	if (!found) throw new Error(`No collection parameter named ${collection}`);
	return defaultsOf((found.options ?? []) as INodeProperties[]);
}

/**
 * A collection parameter's value with the declared default of every option not set (or set to
 * undefined); anything that is not an object is returned as it is, for the schema to reject.
 */
export function withDefaults(defaults: Record<string, unknown>, given: unknown): unknown {
	if (typeof given !== 'object' || given === null || Array.isArray(given)) return given;
	const out: Record<string, unknown> = { ...defaults };
	for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
	return out;
}
