import { describe, expect, it } from 'vitest';

import { compileSchema } from '../../../core/schema';
import {
	checkOutput,
	isSpotChecked,
	type OutputCheckConfig,
	type SpotCheckConfig,
} from '../../../core/validate-output';

const schema = compileSchema({
	type: 'object',
	required: ['label', 'confidence'],
	properties: {
		label: { enum: ['billing', 'bug'] },
		confidence: { type: 'number', minimum: 0, maximum: 1 },
	},
});
if (!schema.ok) throw new Error(schema.message);

const spot = (over: Partial<SpotCheckConfig> = {}): SpotCheckConfig => ({
	percent: 10,
	seed: '',
	recordIdField: 'llm.recordId',
	...over,
});

const config = (over: Partial<OutputCheckConfig> = {}): OutputCheckConfig => ({
	field: 'llm.output',
	textField: 'llm.text',
	parsedField: 'llm.output',
	validationField: 'validation',
	attemptsField: 'llm.attempts',
	schema: schema.validate,
	...over,
});

const item = (recordId: string, output: unknown = { label: 'bug', confidence: 0.9 }) => ({
	llm: { recordId, output, text: '', attempts: 1 },
});

const ids = Array.from({ length: 10_000 }, (_, i) => `R${i}`);
const picked = (c: SpotCheckConfig) => ids.filter((id) => isSpotChecked(`id:${id}`, c));

describe('Spot Check %', () => {
	it('picks about the share asked for, the same records every time', () => {
		const first = picked(spot());
		expect(first.length).toBeGreaterThan(900);
		expect(first.length).toBeLessThan(1100);
		expect(picked(spot())).toEqual(first);
		expect(picked(spot({ percent: 0 }))).toEqual([]);
		expect(picked(spot({ percent: 100 }))).toHaveLength(10_000);
		// a larger share keeps the smaller one's records (the same draw per record)
		const more = new Set(picked(spot({ percent: 20 })));
		expect(first.every((id) => more.has(id))).toBe(true);
	});

	it('another seed picks another sample of the same share', () => {
		const a = picked(spot());
		const b = picked(spot({ seed: 'week 12' }));
		expect(b.length).toBeGreaterThan(900);
		expect(b.length).toBeLessThan(1100);
		const overlap = b.filter((id) => a.includes(id)).length;
		// independent samples of 10 % overlap on about 1 % of the records
		expect(overlap).toBeLessThan(200);
	});

	it('sends a picked valid answer to Review marked spot_check, parsed value written as for Valid', () => {
		const id = picked(spot())[0];
		const json = {
			id: 7,
			llm: { recordId: id, output: null, text: '{"label":"bug","confidence":0.9}', attempts: 1 },
		};
		const c = config({
			spotCheck: spot(),
			confidence: { path: 'confidence', threshold: 0.5, whenMissing: 'review' },
		});
		expect(checkOutput(json, c)).toEqual({
			verdict: 'review',
			spotCheck: true,
			json: {
				id: 7,
				llm: {
					recordId: id,
					output: { label: 'bug', confidence: 0.9 },
					text: json.llm.text,
					attempts: 1,
				},
				validation: { status: 'review', reason: 'spot_check', confidence: 0.9 },
			},
		});
		// the same record, answered differently on a rerun: picked again
		expect(checkOutput(item(id, { label: 'billing', confidence: 0.8 }), c).verdict).toBe('review');
	});

	it('leaves records it does not pick, invalid answers and low confidence as they were', () => {
		const c = config({
			spotCheck: spot(),
			confidence: { path: 'confidence', threshold: 0.5, whenMissing: 'review' },
		});
		const all = picked(spot());
		const notPicked = ids.find((id) => !all.includes(id))!;
		expect(checkOutput(item(notPicked), c)).toEqual(
			checkOutput(item(notPicked), config({ confidence: c.confidence })),
		);
		expect(checkOutput(item(notPicked), c).json.validation).toEqual({
			status: 'valid',
			confidence: 0.9,
		});
		const bad = checkOutput(item(all[0], { label: 'spam', confidence: 0.9 }), c);
		expect(bad.verdict).toBe('invalid');
		const low = checkOutput(item(all[0], { label: 'bug', confidence: 0.2 }), c);
		expect(low).toMatchObject({
			verdict: 'review',
			json: { validation: { status: 'review', reason: 'confidence 0.2 is below 0.5' } },
		});
		expect(low.spotCheck).toBeUndefined();
	});

	it('an item without a record ID is picked by its answer', () => {
		const c = config({ spotCheck: spot({ percent: 50 }) });
		const answers = Array.from({ length: 200 }, (_, i) => ({ label: 'bug', confidence: i / 200 }));
		const verdicts = answers.map((a) => checkOutput({ llm: { output: a } }, c).verdict);
		const reviewed = verdicts.filter((v) => v === 'review').length;
		expect(reviewed).toBeGreaterThan(70);
		expect(reviewed).toBeLessThan(130);
		expect(answers.map((a) => checkOutput({ llm: { output: a } }, c).verdict)).toEqual(verdicts);
	});
});
