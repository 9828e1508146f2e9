/**
 * JSON extraction from model text and JSON Schema validation (ajv + ajv-formats).
 *
 * Failures are data: `{ ok: false, message }` for unusable input, a list of `Issue`s for a
 * value that breaks the schema.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

import type { Issue } from './types';

export type ExtractResult = { ok: true; value: unknown } | { ok: false; message: string };

const FENCE = /```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n([\s\S]*?)```/g;
/** Bounds the prose scan: each candidate start costs one pass over the rest of the text. */
const MAX_CANDIDATES = 64;

function tryParse(text: string): ExtractResult | undefined {
	try {
		return { ok: true, value: JSON.parse(text) as unknown };
	} catch {
		return undefined;
	}
}

/** End index (exclusive) of the balanced value opening at `start`, honouring strings. */
function balancedEnd(text: string, start: number): number | undefined {
	const stack: string[] = [];
	let inString = false;
	for (let i = start; i < text.length; i++) {
		const ch = text[i];
		if (inString) {
			if (ch === '\\') i++;
			else if (ch === '"') inString = false;
			continue;
		}
		if (ch === '"') inString = true;
		else if (ch === '{') stack.push('}');
		else if (ch === '[') stack.push(']');
		else if (ch === '}' || ch === ']') {
			if (stack.pop() !== ch) return undefined;
			if (stack.length === 0) return i + 1;
		}
	}
	return undefined;
}

/**
 * The JSON value in a model's text: the whole text as JSON, else the first fenced block
 * (```json or a bare fence) that parses, else the first balanced `{...}` or `[...]` inside
 * prose that parses.
 */
export function extractJson(text: string): ExtractResult {
	if (typeof text !== 'string') return { ok: false, message: 'The model output is not text' };
	const trimmed = text.trim();
	if (trimmed.length === 0) return { ok: false, message: 'The model output is empty' };

	const whole = tryParse(trimmed);
	if (whole) return whole;

	for (const match of trimmed.matchAll(FENCE)) {
		const parsed = tryParse(match[2].trim());
		if (parsed) return parsed;
	}

	let candidates = 0;
	for (let i = 0; i < trimmed.length && candidates < MAX_CANDIDATES; i++) {
		const ch = trimmed[i];
		if (ch !== '{' && ch !== '[') continue;
		candidates++;
		const end = balancedEnd(trimmed, i);
		if (end === undefined) continue;
		const parsed = tryParse(trimmed.slice(i, end));
		if (parsed) return parsed;
	}
	return {
		ok: false,
		message:
			'No JSON found in the model output (tried the whole text, fenced blocks and {...} / [...] inside prose)',
	};
}

export type SchemaValidator = (value: unknown) => Issue[];
export type CompileResult =
	| { ok: true; validate: SchemaValidator }
	| { ok: false; message: string };

const CACHE_LIMIT = 100;
const cache = new Map<string, CompileResult>();

function newAjv(schema: object): Ajv {
	const dialect = (schema as { $schema?: unknown }).$schema;
	// strictSchema: an unknown keyword (a typo such as "requird") is an error instead of a
	// constraint silently not enforced. Types, tuples and required stay lenient: those rules
	// reject schemas that are valid JSON Schema and common in the wild.
	const options = {
		strict: false,
		strictSchema: true,
		strictTypes: false,
		strictTuples: false,
		strictRequired: false,
		allErrors: true,
	} as const;
	// One instance per schema: two schemas with the same `$id` would otherwise collide.
	const ajv =
		typeof dialect === 'string' && dialect.includes('2020-12')
			? new Ajv2020(options)
			: typeof dialect === 'string' && dialect.includes('2019-09')
				? new Ajv2019(options)
				: new Ajv(options);
	addFormats(ajv);
	return ajv;
}

function toIssue(error: ErrorObject): Issue {
	let path = error.instancePath;
	const params = error.params as Record<string, unknown>;
	if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
		path = `${path}/${params.missingProperty}`;
	} else if (
		error.keyword === 'additionalProperties' &&
		typeof params.additionalProperty === 'string'
	) {
		path = `${path}/${params.additionalProperty}`;
	}
	let message = error.message ?? 'is invalid';
	if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
		message = `${message}: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
	}
	return { path: path === '' ? '/' : path, message, code: error.keyword };
}

/** Keywords whose value is a map of name -> subschema. */
const SCHEMA_MAPS = new Set([
	'properties',
	'patternProperties',
	'definitions',
	'$defs',
	'dependentSchemas',
]);
/** Keywords whose value is a subschema or a list of subschemas. */
const SUBSCHEMAS = new Set([
	'items',
	'additionalItems',
	'prefixItems',
	'contains',
	'additionalProperties',
	'propertyNames',
	'unevaluatedItems',
	'unevaluatedProperties',
	'not',
	'if',
	'then',
	'else',
	'allOf',
	'anyOf',
	'oneOf',
]);

/** JSON Pointer of the first place `keyword` is used as a keyword (not as a property name). */
function keywordPath(schema: unknown, keyword: string, path = ''): string | undefined {
	if (!schema || typeof schema !== 'object') return undefined;
	if (Array.isArray(schema)) {
		for (let i = 0; i < schema.length; i++) {
			const found = keywordPath(schema[i], keyword, `${path}/${i}`);
			if (found) return found;
		}
		return undefined;
	}
	const node = schema as Record<string, unknown>;
	if (Object.hasOwn(node, keyword)) return `${path}/${keyword}`;
	for (const [key, value] of Object.entries(node)) {
		if (SCHEMA_MAPS.has(key) && value && typeof value === 'object') {
			for (const [name, sub] of Object.entries(value as Record<string, unknown>)) {
				const found = keywordPath(sub, keyword, `${path}/${key}/${name}`);
				if (found) return found;
			}
		} else if (SUBSCHEMAS.has(key)) {
			const found = keywordPath(value, keyword, `${path}/${key}`);
			if (found) return found;
		}
	}
	return undefined;
}

/** Compiles a JSON Schema once (cached by its JSON text) into a validator returning issues. */
export function compileSchema(schema: unknown): CompileResult {
	if (
		typeof schema !== 'boolean' &&
		(typeof schema !== 'object' || schema === null || Array.isArray(schema))
	) {
		return {
			ok: false,
			message: 'A JSON Schema must be an object (for example {"type": "object", ...})',
		};
	}
	const key = JSON.stringify(schema);
	const cached = cache.get(key);
	if (cached) return cached;

	let result: CompileResult;
	try {
		const fn: ValidateFunction =
			typeof schema === 'boolean' ? new Ajv().compile(schema) : newAjv(schema).compile(schema);
		result = {
			ok: true,
			validate: (value) => (fn(value) ? [] : (fn.errors ?? []).map(toIssue)),
		};
	} catch (error) {
		const message = (error as Error).message;
		const unknown = /unknown keyword: "([^"]+)"/.exec(message);
		if (unknown) {
			const at = keywordPath(schema, unknown[1]) ?? `/${unknown[1]}`;
			result = {
				ok: false,
				message: `Not a valid JSON Schema: unknown keyword "${unknown[1]}" at ${at} — a typo (e.g. "required", "properties")? Annotations such as title, description, default, examples and $comment are allowed`,
			};
		} else result = { ok: false, message: `Not a valid JSON Schema: ${message}` };
	}
	if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
	cache.set(key, result);
	return result;
}

export type ParsedSchema =
	| { ok: true; schema: object | boolean; validate: SchemaValidator }
	| { ok: false; message: string };

/** A schema from a node parameter: a JSON string (as typed in the editor) or an object. */
export function parseSchemaParam(raw: string | object): ParsedSchema {
	let schema: unknown = raw;
	if (typeof raw === 'string') {
		if (raw.trim() === '') return { ok: false, message: 'The JSON Schema is empty' };
		try {
			schema = JSON.parse(raw);
		} catch (error) {
			return {
				ok: false,
				message: `The JSON Schema is not valid JSON: ${(error as Error).message}`,
			};
		}
	}
	const compiled = compileSchema(schema);
	if (!compiled.ok) return compiled;
	return { ok: true, schema: schema as object | boolean, validate: compiled.validate };
}

/** One line per issue, for error messages: `/total: must be number`. */
export function formatIssues(issues: readonly Issue[]): string {
	return issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}
