import { describe, expect, it } from 'vitest';

import { compileSchema, extractJson, formatIssues, parseSchemaParam } from '../../core/schema';

describe('extractJson', () => {
	it('parses plain JSON', () => {
		expect(extractJson('{"label":"billing","confidence":0.9}')).toEqual({
			ok: true,
			value: { label: 'billing', confidence: 0.9 },
		});
		expect(extractJson('  [1, 2, 3]\n')).toEqual({ ok: true, value: [1, 2, 3] });
		expect(extractJson('42')).toEqual({ ok: true, value: 42 });
	});

	it('parses a ```json fenced block surrounded by prose', () => {
		const text = 'Here is the result:\n```json\n{"label": "bug"}\n```\nLet me know!';
		expect(extractJson(text)).toEqual({ ok: true, value: { label: 'bug' } });
	});

	it('parses a bare fence', () => {
		expect(extractJson('```\n[{"a":1}]\n```')).toEqual({ ok: true, value: [{ a: 1 }] });
	});

	it('finds the first balanced object inside prose', () => {
		const text =
			'Sure! The answer is {"label": "refund", "note": "has } and { in a string"} — hope that helps {"x":2}';
		expect(extractJson(text)).toEqual({
			ok: true,
			value: { label: 'refund', note: 'has } and { in a string' },
		});
	});

	it('skips a brace that does not open valid JSON', () => {
		const text = 'Use {curly} braces, then: [ "a", "b" ]';
		expect(extractJson(text)).toEqual({ ok: true, value: ['a', 'b'] });
	});

	it('reports empty text and text without JSON', () => {
		expect(extractJson('   ')).toEqual({ ok: false, message: 'The model output is empty' });
		const none = extractJson('I cannot help with that.');
		expect(none.ok).toBe(false);
		expect(!none.ok && none.message).toMatch(/No JSON found/);
		expect(extractJson('{"unterminated": ').ok).toBe(false);
	});
});

describe('compileSchema', () => {
	const schema = {
		type: 'object',
		required: ['label', 'email'],
		additionalProperties: false,
		properties: {
			label: { enum: ['billing', 'bug'] },
			email: { type: 'string', format: 'email' },
			total: { type: 'number', minimum: 0 },
		},
	};

	it('returns no issues for a valid value', () => {
		const compiled = compileSchema(schema);
		expect(compiled.ok).toBe(true);
		if (compiled.ok) expect(compiled.validate({ label: 'bug', email: 'a@b.co' })).toEqual([]);
	});

	it('lists every issue with a JSON-pointer path (allErrors, formats)', () => {
		const compiled = compileSchema(schema);
		if (!compiled.ok) throw new Error(compiled.message);
		expect(
			compiled.validate({ label: 'other', email: 'not-an-email', total: -1, extra: true }),
		).toEqual([
			{
				path: '/extra',
				message: 'must NOT have additional properties',
				code: 'additionalProperties',
			},
			{
				path: '/label',
				message: 'must be equal to one of the allowed values: "billing", "bug"',
				code: 'enum',
			},
			{ path: '/email', message: 'must match format "email"', code: 'format' },
			{ path: '/total', message: 'must be >= 0', code: 'minimum' },
		]);
		expect(compiled.validate({})).toEqual([
			{ path: '/label', message: "must have required property 'label'", code: 'required' },
			{ path: '/email', message: "must have required property 'email'", code: 'required' },
		]);
		expect(compiled.validate('text')).toEqual([
			{ path: '/', message: 'must be object', code: 'type' },
		]);
	});

	it('caches compiled validators by schema text', () => {
		const a = compileSchema({ type: 'string' });
		const b = compileSchema({ type: 'string' });
		expect(a).toBe(b);
	});

	it('supports draft 2020-12 schemas', () => {
		const compiled = compileSchema({
			$schema: 'https://json-schema.org/draft/2020-12/schema',
			type: 'array',
			prefixItems: [{ type: 'number' }],
		});
		if (!compiled.ok) throw new Error(compiled.message);
		expect(compiled.validate(['x'])).toEqual([
			{ path: '/0', message: 'must be number', code: 'type' },
		]);
	});

	it('allows the same $id in two different schemas', () => {
		expect(compileSchema({ $id: 'x', type: 'string' }).ok).toBe(true);
		expect(compileSchema({ $id: 'x', type: 'number' }).ok).toBe(true);
	});

	it('rejects invalid schemas with a clear message', () => {
		const bad = compileSchema({ type: 'strin' });
		expect(bad.ok).toBe(false);
		expect(!bad.ok && bad.message).toMatch(/^Not a valid JSON Schema: /);
		expect(compileSchema([1])).toEqual({
			ok: false,
			message: 'A JSON Schema must be an object (for example {"type": "object", ...})',
		});
	});
});

describe('parseSchemaParam', () => {
	it('parses a JSON string from the editor', () => {
		const parsed = parseSchemaParam('{"type":"object","required":["a"]}');
		expect(parsed.ok).toBe(true);
		if (parsed.ok) {
			expect(parsed.schema).toEqual({ type: 'object', required: ['a'] });
			expect(parsed.validate({})).toHaveLength(1);
		}
	});

	it('accepts an object', () => {
		expect(parseSchemaParam({ type: 'number' }).ok).toBe(true);
	});

	it('explains non-JSON, empty and invalid schemas', () => {
		const notJson = parseSchemaParam('{type: object}');
		expect(!notJson.ok && notJson.message).toMatch(/^The JSON Schema is not valid JSON: /);
		expect(parseSchemaParam(' ')).toEqual({ ok: false, message: 'The JSON Schema is empty' });
		const invalid = parseSchemaParam('{"type": 5}');
		expect(!invalid.ok && invalid.message).toMatch(/^Not a valid JSON Schema: /);
	});
});

describe('formatIssues', () => {
	it('joins path and message', () => {
		expect(
			formatIssues([
				{ path: '/a', message: 'must be number' },
				{ path: '/', message: 'x' },
			]),
		).toBe('/a: must be number; /: x');
	});
});
