import { describe, expect, it } from 'vitest';

import { missesPrompt, withModelMiss } from '../../sandbox/model-misses';
import { expectedReply, promptDigest } from '../../sandbox/reply';

const SCHEMA = {
	type: 'object',
	required: ['category', 'confidence'],
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature'] },
		confidence: { type: 'number', minimum: 0, maximum: 1 },
	},
};
const prompts = Array.from({ length: 2000 }, (_, i) => `Subject: ticket ${i}`);

describe('sandbox model misses', () => {
	it('misses the given share of prompts, the same ones every time, only for the named model', () => {
		const misses = { cheap: 0.15 };
		const missed = prompts.filter((p) => missesPrompt(misses, 1, 'cheap', promptDigest(p)));
		expect(missed.length).toBeGreaterThan(2000 * 0.13);
		expect(missed.length).toBeLessThan(2000 * 0.17);
		expect(prompts.filter((p) => missesPrompt(misses, 1, 'cheap', promptDigest(p)))).toEqual(
			missed,
		);
		expect(prompts.some((p) => missesPrompt(misses, 1, 'strong', promptDigest(p)))).toBe(false);
	});

	it('answers a missed prompt wrong and unsure, the others right and sure', () => {
		const misses = { cheap: 0.5 };
		let wrong = 0;
		for (const prompt of prompts.slice(0, 200)) {
			const digest = promptDigest(prompt);
			const right = expectedReply({ prompt, schema: SCHEMA }).output as Record<string, unknown>;
			const reply = withModelMiss(
				expectedReply({ prompt, schema: SCHEMA }),
				SCHEMA,
				misses,
				1,
				'cheap',
				digest,
			);
			const out = reply.output as { category: string; confidence: number };
			expect(JSON.parse(reply.text)).toEqual(out);
			if (missesPrompt(misses, 1, 'cheap', digest)) {
				wrong++;
				expect(out.category).not.toBe(right.category);
				expect(out.confidence).toBeLessThan(0.5);
			} else {
				expect(out.category).toBe(right.category);
				expect(out.confidence).toBeGreaterThanOrEqual(0.9);
			}
		}
		expect(wrong).toBeGreaterThan(0);
	});
});

describe('sandbox CLI --model-misses', () => {
	it('reads model=share pairs, and rejects a share that is no number', async () => {
		const { parseCliArgs } = await import('../../sandbox/cli');
		expect(parseCliArgs(['--model-misses', 'gpt-4o-mini=0.15,openai/gpt-4.1-nano=0.3'])).toEqual({
			port: 8787,
			modelMisses: { 'gpt-4o-mini': 0.15, 'openai/gpt-4.1-nano': 0.3 },
		});
		expect(() => parseCliArgs(['--model-misses', 'gpt-4o-mini=lots'])).toThrow(
			'Expected --model-misses gpt-4o-mini to be a number, got lots',
		);
	});
});
