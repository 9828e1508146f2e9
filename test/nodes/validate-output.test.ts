import { NodeOperationError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { executeValidateOutput } from '../../nodes/ValidateOutput/execute';
import { ValidateOutput } from '../../nodes/ValidateOutput/ValidateOutput.node';
import { mockExecute } from '../helpers/mock-execute';

const SCHEMA = JSON.stringify({
	type: 'object',
	required: ['category', 'confidence'],
	properties: { category: { enum: ['billing', 'bug'] }, confidence: { type: 'number' } },
});

describe('Validate Output node', () => {
	it('declares Valid, Invalid and Review outputs', () => {
		const d = new ValidateOutput().description;
		expect(d.name).toBe('validateOutput');
		expect(d.outputNames).toEqual(['Valid', 'Invalid', 'Review']);
		expect(d.outputs).toHaveLength(3);
	});

	it('sorts every item into one output with pairedItem', async () => {
		const m = mockExecute({
			items: [
				{ id: 1, llm: { output: { category: 'bug', confidence: 0.9 }, text: '{}', attempts: 1 } },
				{
					id: 2,
					llm: {
						output: null,
						text: 'Here you go: {"category": "billing", "confidence": 0.4}',
						attempts: 1,
					},
				},
				{ id: 3, llm: { output: { category: 'spam', confidence: 0.9 }, attempts: 2 } },
				{ id: 4, llm: { output: null, text: 'Sorry, no.', attempts: 1 } },
			],
			parameters: {
				jsonSchema: SCHEMA,
				useConfidence: true,
				confidencePath: 'confidence',
				confidenceThreshold: 0.5,
			},
		});
		const out = await executeValidateOutput(m.fns);
		const noJson =
			'No JSON found in the model output (tried the whole text, fenced blocks and {...} / [...] inside prose)';
		const enumIssue = [
			{
				path: '/category',
				message: 'must be equal to one of the allowed values: "billing", "bug"',
				code: 'enum',
			},
		];
		expect(out).toEqual([
			[
				{
					json: {
						id: 1,
						llm: { output: { category: 'bug', confidence: 0.9 }, text: '{}', attempts: 1 },
						validation: { status: 'valid', confidence: 0.9 },
					},
					pairedItem: { item: 0 },
				},
			],
			[
				{
					json: {
						id: 3,
						llm: { output: { category: 'spam', confidence: 0.9 }, attempts: 2 },
						validation: { status: 'invalid', issues: enumIssue },
						error: {
							code: 'schema_violation',
							message: `Output does not match the schema: /category: ${enumIssue[0].message}`,
							retryable: false,
							attempts: 2,
							issues: enumIssue,
						},
					},
					pairedItem: { item: 2 },
				},
				{
					json: {
						id: 4,
						llm: { output: null, text: 'Sorry, no.', attempts: 1 },
						validation: {
							status: 'invalid',
							issues: [{ path: '/', message: noJson, code: 'parse' }],
						},
						error: {
							code: 'malformed_output',
							message: `${noJson} (field "llm.text")`,
							retryable: true,
							attempts: 1,
							issues: [{ path: '/', message: noJson, code: 'parse' }],
						},
					},
					pairedItem: { item: 3 },
				},
			],
			[
				{
					json: {
						id: 2,
						llm: {
							output: { category: 'billing', confidence: 0.4 },
							text: 'Here you go: {"category": "billing", "confidence": 0.4}',
							attempts: 1,
						},
						validation: {
							status: 'review',
							reason: 'confidence 0.4 is below 0.5',
							confidence: 0.4,
						},
					},
					pairedItem: { item: 1 },
				},
			],
		]);
		expect(m.hints).toEqual([
			{ message: '1 valid, 2 invalid, 1 for review', type: 'warning', location: 'outputPane' },
		]);
	});

	it('checks any named field and writes the parsed value where asked', async () => {
		const m = mockExecute({
			items: [{ answer: '```json\n[1,2]\n```' }],
			parameters: {
				field: 'answer',
				textField: '',
				jsonSchema: '{"type":"array"}',
				options: { parsedField: 'parsed' },
			},
		});
		expect(await executeValidateOutput(m.fns)).toEqual([
			[
				{
					json: { answer: '```json\n[1,2]\n```', parsed: [1, 2], validation: { status: 'valid' } },
					pairedItem: { item: 0 },
				},
			],
			[],
			[],
		]);
		expect(m.hints).toEqual([]);
	});

	it('throws on an invalid schema before checking any item', async () => {
		for (const jsonSchema of ['{oops', '{"type": 12}']) {
			const m = mockExecute({ items: [{ llm: { output: {} } }], parameters: { jsonSchema } });
			await expect(executeValidateOutput(m.fns)).rejects.toBeInstanceOf(NodeOperationError);
		}
	});
});
