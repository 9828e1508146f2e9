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

	it('Spot Check %: a seeded share of valid answers also goes to Review, the same records on every run', async () => {
		// at 50 % with no seed, T1, T3, T5 and T6 are picked (a hash of the record ID), T2 and T4 not
		const answer = { category: 'bug', confidence: 0.9 };
		const items = ['T1', 'T2', 'T3', 'T4', 'T5', 'T6'].map((recordId) => ({
			llm: { recordId, output: answer, attempts: 1 },
		}));
		items[2].llm.output = { category: 'spam', confidence: 0.9 };
		const run = async (options: Record<string, unknown>) => {
			const m = mockExecute({
				items,
				parameters: { jsonSchema: SCHEMA, options: { spotCheckPercent: 50, ...options } },
			});
			return { out: await executeValidateOutput(m.fns), hints: m.hints };
		};
		const { out, hints } = await run({});
		const valid = (i: number) => ({
			json: { ...items[i], validation: { status: 'valid' } },
			pairedItem: { item: i },
		});
		const spot = (i: number) => ({
			json: { ...items[i], validation: { status: 'review', reason: 'spot_check' } },
			pairedItem: { item: i },
		});
		expect(out[0]).toEqual([valid(1), valid(3)]);
		// T3's answer is invalid: a spot check never takes it off Invalid
		expect(out[1].map((o) => o.pairedItem)).toEqual([{ item: 2 }]);
		expect(out[2]).toEqual([spot(0), spot(4), spot(5)]);
		expect(hints).toEqual([
			{
				message: '2 valid, 1 invalid, 3 for review (3 of them valid, spot checks)',
				type: 'warning',
				location: 'outputPane',
			},
		]);
		// the same records again on a rerun; another seed picks another sample
		expect((await run({})).out).toEqual(out);
		const reseeded = await run({ spotCheckSeed: 'week 12' });
		expect(reseeded.out[2].map((o) => o.pairedItem)).not.toEqual(out[2].map((o) => o.pairedItem));
	});

	it('throws on an invalid schema before checking any item', async () => {
		for (const jsonSchema of ['{oops', '{"type": 12}']) {
			const m = mockExecute({ items: [{ llm: { output: {} } }], parameters: { jsonSchema } });
			await expect(executeValidateOutput(m.fns)).rejects.toBeInstanceOf(NodeOperationError);
		}
	});
});
