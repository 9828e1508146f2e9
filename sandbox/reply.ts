/**
 * What the sandbox answers: a pure function of the last user message (and the schema asked
 * for), so a test can compute the expected answer of every item without calling the server
 * and check that each result belongs to its own item.
 */
import { createHash } from 'node:crypto';

export type JsonSchema = Record<string, unknown>;

/** How the answer is asked for: plain text, any JSON object, or JSON that fits a schema. */
export interface ReplyRequest {
	prompt: string;
	schema?: object;
	/** OpenAI `response_format: { type: 'json_object' }` (no schema). */
	mode?: 'text' | 'json_object';
}

export interface Reply {
	text: string;
	/** Set for structured answers: the parsed value of `text`. */
	output?: unknown;
}

/** sha256 hex of the prompt text, first 16 chars. */
export function promptDigest(text: string): string {
	return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export function plainReply(prompt: string, digest = promptDigest(prompt)): string {
	return `sandbox:${digest} ${prompt.slice(0, 60)}`;
}

/** The answer a successful (non-fault) call with this prompt gets. */
export function expectedReply(req: ReplyRequest): Reply {
	return replyFor(req, promptDigest(req.prompt));
}

/** `expectedReply` for a caller that already has the digest (the server: one sha256 per request). */
export function replyFor(req: ReplyRequest, digest: string): Reply {
	if (req.schema !== undefined) {
		const output = valueForSchema(req.schema as JsonSchema, digest);
		return { text: JSON.stringify(output), output };
	}
	if (req.mode === 'json_object') {
		const output = { digest, reply: plainReply(req.prompt, digest) };
		return { text: JSON.stringify(output), output };
	}
	return { text: plainReply(req.prompt, digest) };
}

/** ceil(chars / 4), at least 1: the sandbox's token count for a text. */
export function tokensForChars(chars: number): number {
	return Math.max(1, Math.ceil(chars / 4));
}

// FNV-1a: a cheap 32-bit hash, so each property gets its own pick from the same digest.
function fnv1a(s: string): number {
	let h = 0x811c9dc5;
	for (let i = 0; i < s.length; i++) {
		h ^= s.charCodeAt(i);
		h = Math.imul(h, 0x01000193);
	}
	return h >>> 0;
}

interface GenContext {
	digest: string;
	root: JsonSchema;
	depth: number;
}

const MAX_DEPTH = 24;

/**
 * A value that validates against `schema`, derived from `digest`. Hand-written rather than a
 * faker library because it must be deterministic per digest, tiny and fast, and only needs
 * the JSON Schema subset that structured-output APIs accept.
 */
export function valueForSchema(schema: JsonSchema, digest: string): unknown {
	return gen(schema, { digest, root: schema, depth: 0 }, 'value', '$');
}

function resolveRef(ref: string, root: JsonSchema): JsonSchema {
	if (!ref.startsWith('#')) return {};
	let node: unknown = root;
	for (const raw of ref.slice(1).split('/').filter(Boolean)) {
		const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
		node = node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
	}
	return node && typeof node === 'object' ? (node as JsonSchema) : {};
}

function mergeAllOf(schema: JsonSchema, ctx: GenContext): JsonSchema {
	const merged: JsonSchema = { ...schema };
	delete merged.allOf;
	const properties: Record<string, unknown> = { ...((schema.properties as object) ?? {}) };
	const required = new Set<string>((schema.required as string[]) ?? []);
	for (const part0 of schema.allOf as JsonSchema[]) {
		const part = typeof part0.$ref === 'string' ? resolveRef(part0.$ref, ctx.root) : part0;
		for (const [k, v] of Object.entries(part)) {
			if (k === 'properties') Object.assign(properties, v);
			else if (k === 'required') for (const r of v as string[]) required.add(r);
			else if (!(k in merged)) merged[k] = v;
		}
	}
	if (Object.keys(properties).length > 0) merged.properties = properties;
	if (required.size > 0) merged.required = [...required];
	return merged;
}

function pickType(schema: JsonSchema): string {
	const t = schema.type;
	if (typeof t === 'string') return t;
	if (Array.isArray(t)) return (t.find((x) => x !== 'null') as string | undefined) ?? 'null';
	if (schema.properties || schema.required || schema.additionalProperties) return 'object';
	if (schema.items || schema.prefixItems) return 'array';
	return 'string';
}

function gen(schema0: unknown, ctx: GenContext, name: string, path: string): unknown {
	if (
		schema0 === true ||
		schema0 === undefined ||
		schema0 === null ||
		typeof schema0 !== 'object'
	) {
		return `${name}-${ctx.digest.slice(0, 6)}`;
	}
	let schema = schema0 as JsonSchema;
	if (typeof schema.$ref === 'string')
		schema = { ...resolveRef(schema.$ref, ctx.root), ...schema, $ref: undefined };
	if (Array.isArray(schema.allOf)) schema = mergeAllOf(schema, ctx);
	const h = fnv1a(`${ctx.digest}|${path}`);
	if ('const' in schema) return schema.const;
	if (Array.isArray(schema.enum) && schema.enum.length > 0)
		return schema.enum[h % schema.enum.length];
	const branches = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
	if (Array.isArray(branches) && branches.length > 0) {
		const branch = branches.find((b) => b && b.type !== 'null') ?? branches[0];
		const { anyOf: _a, oneOf: _o, ...rest } = schema;
		return gen({ ...rest, ...branch }, ctx, name, path);
	}
	const deeper: GenContext = { ...ctx, depth: ctx.depth + 1 };
	switch (pickType(schema)) {
		case 'object': {
			const out: Record<string, unknown> = {};
			if (ctx.depth >= MAX_DEPTH) return out;
			const props = (schema.properties ?? {}) as Record<string, unknown>;
			for (const key of Object.keys(props))
				out[key] = gen(props[key], deeper, key, `${path}.${key}`);
			for (const key of (schema.required as string[] | undefined) ?? []) {
				if (!(key in out)) out[key] = gen(undefined, deeper, key, `${path}.${key}`);
			}
			return out;
		}
		case 'array': {
			if (ctx.depth >= MAX_DEPTH) return [];
			const tuple = (
				Array.isArray(schema.prefixItems)
					? schema.prefixItems
					: Array.isArray(schema.items)
						? schema.items
						: []
			) as unknown[];
			const max = typeof schema.maxItems === 'number' ? schema.maxItems : Infinity;
			const n = Math.min(
				max,
				Math.max(1, tuple.length, typeof schema.minItems === 'number' ? schema.minItems : 0),
			);
			const itemSchema = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
			const out: unknown[] = [];
			for (let i = 0; i < n; i++)
				out.push(gen(i < tuple.length ? tuple[i] : itemSchema, deeper, name, `${path}[${i}]`));
			return out;
		}
		case 'integer':
		case 'number':
			return genNumber(schema, name, h);
		case 'boolean':
			return h % 2 === 0;
		case 'null':
			return null;
		default:
			return genString(schema, name, ctx.digest, h);
	}
}

function genNumber(schema: JsonSchema, name: string, h: number): number {
	const integer = pickType(schema) === 'integer';
	const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
	let lo = num(schema.minimum) ?? num(schema.exclusiveMinimum) ?? 0;
	let hi = num(schema.maximum) ?? num(schema.exclusiveMaximum) ?? lo + 100;
	if (name === 'confidence') {
		lo = Math.max(lo, 0);
		hi = Math.min(hi, 1);
	}
	const step = num(schema.multipleOf);
	if (integer || step !== undefined) {
		const unit = step ?? 1;
		let first = Math.ceil(lo / unit);
		let last = Math.floor(hi / unit);
		if (num(schema.exclusiveMinimum) !== undefined && first * unit <= lo) first++;
		if (num(schema.exclusiveMaximum) !== undefined && last * unit >= hi) last--;
		if (last < first) return first * unit;
		return (first + (h % (last - first + 1))) * unit;
	}
	// A fraction strictly inside (0, 1) keeps exclusive bounds satisfied too.
	const f = ((h % 999) + 1) / 1000;
	const v = Math.round((lo + f * (hi - lo)) * 1000) / 1000;
	return v <= lo || v >= hi ? lo + f * (hi - lo) : v;
}

function genString(schema: JsonSchema, name: string, digest: string, h: number): string {
	const d6 = digest.slice(0, 6);
	let s: string;
	if (name === 'echo' || name === 'digest') s = digest;
	else {
		switch (schema.format) {
			case 'date-time':
				s = new Date(Date.UTC(2024, 0, 1) + (h % 31_536_000) * 1000).toISOString();
				break;
			case 'date':
				s = new Date(Date.UTC(2024, 0, 1) + (h % 365) * 86_400_000).toISOString().slice(0, 10);
				break;
			case 'email':
				s = `${name}-${d6}@sandbox.test`;
				break;
			case 'uri':
			case 'url':
				s = `https://sandbox.test/${name}-${d6}`;
				break;
			case 'uuid': {
				const hex = digest + digest;
				s = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
				break;
			}
			default:
				s = `${name}-${d6}`;
		}
	}
	const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
	const max = typeof schema.maxLength === 'number' ? schema.maxLength : Infinity;
	while (s.length < min) s += digest;
	if (s.length > max) s = s.slice(0, max);
	if (s.length < min) s = s.padEnd(min, 'x');
	return s;
}
