/** A misspelt JSON Schema keyword is a configuration error, not a silent no-op. */
import { describe, expect, it } from 'vitest';

import { compileSchema, parseSchemaParam } from '../../core/schema';

describe('JSON Schema strict mode', () => {
	it('rejects unknown keywords naming their path; allows annotation keywords', () => {
		const typo = compileSchema({
			type: 'object',
			properties: { name: { type: 'string' }, requird: { type: 'string' } },
			requird: ['name'],
		});
		expect(typo).toEqual({ ok: false, message: expect.stringContaining('"requird" at /requird') });

		const nested = parseSchemaParam(
			JSON.stringify({
				type: 'object',
				properties: { tags: { type: 'array', items: { type: 'string', foo: 1 } } },
			}),
		);
		expect(nested).toEqual({
			ok: false,
			message: expect.stringContaining('"foo" at /properties/tags/items/foo'),
		});

		const annotated = compileSchema({
			$schema: 'http://json-schema.org/draft-07/schema#',
			$id: 'https://example.com/ticket',
			$comment: 'kept as is',
			title: 'Ticket',
			description: 'A classified ticket',
			type: 'object',
			properties: {
				category: {
					type: 'string',
					enum: ['a', 'b'],
					default: 'a',
					examples: ['a'],
					deprecated: false,
					readOnly: true,
				},
				// A property may be named like a typo: only keyword positions are checked.
				foo: { type: 'number', minimum: 0 },
			},
			required: ['category'],
			additionalProperties: false,
		});
		expect(annotated.ok).toBe(true);
		// Schemas without "type" next to "properties" stay accepted (no strictTypes).
		expect(compileSchema({ properties: { a: { minimum: 1 } } }).ok).toBe(true);
	});
});
