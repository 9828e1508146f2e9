/** The per-field rules and the optional item schema, checked on one item. */
import { getPath, type Json } from '../paths';
import type { SchemaValidator } from '../schema';
import type { Issue } from '../types';
import type { FieldRule, FieldType } from './types';

const TYPE_CHECKS: Record<Exclude<FieldType, 'any'>, (v: unknown) => boolean> = {
	string: (v) => typeof v === 'string',
	number: (v) => typeof v === 'number' && Number.isFinite(v),
	boolean: (v) => typeof v === 'boolean',
	object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
	array: (v) => Array.isArray(v),
};

/** A field path as a JSON pointer, for `issues[].path`. */
export function pointer(field: string): string {
	return `/${field.split('.').join('/')}`;
}

function describe(v: unknown): string {
	if (v === null) return 'null';
	if (Array.isArray(v)) return 'array';
	return typeof v;
}

/** Every problem of one item against the field rules and the optional item schema. */
export function validateItem(
	json: Json,
	rules: readonly FieldRule[],
	schema?: SchemaValidator,
): Issue[] {
	const issues: Issue[] = [];
	for (const rule of rules) {
		const value = getPath(json, rule.field);
		const path = pointer(rule.field);
		const missing =
			value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
		if (missing) {
			if (rule.required) issues.push({ path, message: 'is required', code: 'required' });
			continue;
		}
		const type = rule.type ?? 'any';
		if (type !== 'any' && !TYPE_CHECKS[type](value)) {
			issues.push({ path, message: `must be ${type}, got ${describe(value)}`, code: 'type' });
			continue;
		}
		const length = typeof value === 'string' || Array.isArray(value) ? value.length : undefined;
		if (length === undefined) continue;
		const unit = typeof value === 'string' ? 'characters' : 'entries';
		if (rule.minLength !== undefined && length < rule.minLength) {
			issues.push({
				path,
				message: `must have at least ${rule.minLength} ${unit}, has ${length}`,
				code: 'minLength',
			});
		}
		if (rule.maxLength !== undefined && length > rule.maxLength) {
			issues.push({
				path,
				message: `must have at most ${rule.maxLength} ${unit}, has ${length}`,
				code: 'maxLength',
			});
		}
	}
	if (schema) issues.push(...schema(json));
	return issues;
}
