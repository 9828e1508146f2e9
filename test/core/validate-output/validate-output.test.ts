import { describe, expect, it } from 'vitest';

import { compileSchema } from '../../../core/schema';
import { checkOutput, type OutputCheckConfig } from '../../../core/validate-output';

const schema = compileSchema({
	type: 'object',
	required: ['label', 'confidence'],
	properties: {
		label: { enum: ['billing', 'bug'] },
		confidence: { type: 'number', minimum: 0, maximum: 1 },
	},
});
if (!schema.ok) throw new Error(schema.message);

const config = (over: Partial<OutputCheckConfig> = {}): OutputCheckConfig => ({
	field: 'llm.output',
	textField: 'llm.text',
	parsedField: 'llm.output',
	validationField: 'validation',
	attemptsField: 'llm.attempts',
	...over,
});

describe('checkOutput', () => {
	it('accepts a parsed answer that matches the schema', () => {
		const json = {
			id: 1,
			llm: { output: { label: 'bug', confidence: 0.9 }, text: '', attempts: 1 },
		};
		expect(checkOutput(json, config({ schema: schema.validate }))).toEqual({
			verdict: 'valid',
			json: { ...json, validation: { status: 'valid' } },
		});
	});

	it('parses JSON out of the model text when output is empty (fenced, prose)', () => {
		const json = {
			llm: {
				output: '',
				text: 'Sure:\n```json\n{"label":"billing","confidence":0.8}\n```',
				attempts: 1,
			},
		};
		expect(checkOutput(json, config({ schema: schema.validate }))).toEqual({
			verdict: 'valid',
			json: {
				llm: { ...json.llm, output: { label: 'billing', confidence: 0.8 } },
				validation: { status: 'valid' },
			},
		});
	});

	it('works on any field the user names', () => {
		const json = { answer: 'The result is {"label": "bug", "confidence": 1} as requested' };
		expect(
			checkOutput(
				json,
				config({ field: 'answer', textField: '', parsedField: 'parsed', schema: schema.validate }),
			),
		).toEqual({
			verdict: 'valid',
			json: { ...json, parsed: { label: 'bug', confidence: 1 }, validation: { status: 'valid' } },
		});
	});

	it('fails text without JSON as malformed_output (retryable)', () => {
		const json = { llm: { output: 'I cannot do that', text: 'I cannot do that', attempts: 2 } };
		const checked = checkOutput(json, config());
		expect(checked.verdict).toBe('invalid');
		expect(checked.json.error).toEqual({
			code: 'malformed_output',
			message:
				'No JSON found in the model output (tried the whole text, fenced blocks and {...} / [...] inside prose) (field "llm.output")',
			retryable: true,
			attempts: 2,
			issues: [
				{
					path: '/',
					message:
						'No JSON found in the model output (tried the whole text, fenced blocks and {...} / [...] inside prose)',
					code: 'parse',
				},
			],
		});
		expect(checked.json.validation).toEqual({
			status: 'invalid',
			issues: (checked.json.error as { issues: unknown }).issues,
		});
	});

	it('fails an item without any output', () => {
		const checked = checkOutput({ id: 1 }, config());
		expect(checked.verdict).toBe('invalid');
		expect(checked.json.error).toMatchObject({
			code: 'malformed_output',
			message: 'No model output at "llm.output" or "llm.text"',
			attempts: 1,
		});
	});

	it('lists every schema issue with its path (schema_violation, not retryable)', () => {
		const json = { llm: { output: { label: 'other', confidence: 2 }, attempts: 1 } };
		const checked = checkOutput(json, config({ schema: schema.validate }));
		const issues = [
			{
				path: '/label',
				message: 'must be equal to one of the allowed values: "billing", "bug"',
				code: 'enum',
			},
			{ path: '/confidence', message: 'must be <= 1', code: 'maximum' },
		];
		expect(checked).toEqual({
			verdict: 'invalid',
			json: {
				...json,
				validation: { status: 'invalid', issues },
				error: {
					code: 'schema_violation',
					message:
						'Output does not match the schema: /label: must be equal to one of the allowed values: "billing", "bug"; /confidence: must be <= 1',
					retryable: false,
					attempts: 1,
					issues,
				},
			},
		});
	});

	it('sends low or missing confidence to Review', () => {
		const rule = { path: 'confidence', threshold: 0.7, whenMissing: 'review' as const };
		const low = checkOutput(
			{ llm: { output: { label: 'bug', confidence: 0.5 } } },
			config({ confidence: rule }),
		);
		expect(low).toEqual({
			verdict: 'review',
			json: {
				llm: { output: { label: 'bug', confidence: 0.5 } },
				validation: { status: 'review', reason: 'confidence 0.5 is below 0.7', confidence: 0.5 },
			},
		});
		const high = checkOutput(
			{ llm: { output: { label: 'bug', confidence: '0.95' } } },
			config({ confidence: rule }),
		);
		expect(high.verdict).toBe('valid');
		expect(high.json.validation).toEqual({ status: 'valid', confidence: 0.95 });
		expect(
			checkOutput({ llm: { output: { label: 'bug' } } }, config({ confidence: rule })).verdict,
		).toBe('review');
		expect(
			checkOutput(
				{ llm: { output: { label: 'bug' } } },
				config({ confidence: { ...rule, whenMissing: 'valid' } }),
			).verdict,
		).toBe('valid');
	});

	it('drops a stale error from an earlier pass on a now-valid item', () => {
		const checked = checkOutput(
			{ llm: { output: { a: 1 } }, error: { code: 'schema_violation', message: 'old' } },
			config(),
		);
		expect(checked).toEqual({
			verdict: 'valid',
			json: { llm: { output: { a: 1 } }, validation: { status: 'valid' } },
		});
	});
});
