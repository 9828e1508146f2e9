import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';

import { requestRng } from '../../sandbox/prng';
import { expectedReply, promptDigest, tokensForChars, valueForSchema } from '../../sandbox/reply';

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);

const RICH = {
	$defs: {
		person: {
			type: 'object',
			required: ['name', 'email'],
			properties: {
				name: { type: 'string', minLength: 12, maxLength: 14 },
				email: { type: 'string', format: 'email' },
			},
			additionalProperties: false,
		},
	},
	type: 'object',
	required: [
		'id',
		'category',
		'confidence',
		'digest',
		'people',
		'ratio',
		'count',
		'even',
		'maybe',
		'when',
		'day',
		'link',
		'uid',
		'pair',
		'mixed',
		'fixed',
	],
	additionalProperties: false,
	properties: {
		id: { type: 'string' },
		category: { type: 'string', enum: ['a', 'b', 'c', 'd', 'e'] },
		confidence: { type: 'number', minimum: 0, maximum: 1 },
		digest: { type: 'string' },
		people: { type: 'array', items: { $ref: '#/$defs/person' }, minItems: 2, maxItems: 3 },
		ratio: { type: 'number', exclusiveMinimum: 0.5, exclusiveMaximum: 0.6 },
		count: { type: 'integer', minimum: -3, maximum: 3 },
		even: { type: 'integer', multipleOf: 2, minimum: 1, maximum: 9 },
		maybe: { anyOf: [{ type: 'null' }, { type: 'boolean' }] },
		when: { type: 'string', format: 'date-time' },
		day: { type: 'string', format: 'date' },
		link: { type: 'string', format: 'uri' },
		uid: { type: 'string', format: 'uuid' },
		pair: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string' }], items: false },
		mixed: {
			allOf: [
				{ type: 'object', properties: { x: { type: 'integer' } }, required: ['x'] },
				{ properties: { y: { type: ['string', 'null'] } }, required: ['y'] },
			],
		},
		fixed: { const: 'always' },
	},
};

describe('sandbox replies', () => {
	it('answers plain text as sandbox:<digest> <first 60 chars>', () => {
		const prompt = 'x'.repeat(100);
		expect(expectedReply({ prompt })).toEqual({
			text: `sandbox:${promptDigest(prompt)} ${'x'.repeat(60)}`,
		});
		expect(promptDigest('hello')).toBe('2cf24dba5fb0a30e');
	});

	it('produces values that validate against a rich schema for many prompts', () => {
		const validate = ajv.compile(RICH);
		const seen = new Set<unknown>();
		for (let i = 0; i < 300; i++) {
			const prompt = `item ${i}`;
			const { output, text } = expectedReply({ prompt, schema: RICH });
			if (!validate(output))
				throw new Error(`${prompt}: ${ajv.errorsText(validate.errors)} in ${text}`);
			const o = output as Record<string, unknown>;
			expect(o.digest).toBe(promptDigest(prompt));
			expect(o.id).toBe(`id-${promptDigest(prompt).slice(0, 6)}`);
			expect(JSON.parse(text)).toEqual(output);
			seen.add(o.category);
		}
		expect(seen.size).toBe(5);
	});

	it('is a pure function of the prompt and schema', () => {
		const a = valueForSchema(RICH, promptDigest('p'));
		expect(valueForSchema(RICH, promptDigest('p'))).toEqual(a);
		expect(valueForSchema(RICH, promptDigest('q'))).not.toEqual(a);
	});

	it('counts tokens as ceil(chars / 4), at least 1', () => {
		expect([0, 1, 4, 5, 400].map(tokensForChars)).toEqual([1, 1, 1, 2, 100]);
	});
});

describe('sandbox PRNG', () => {
	it('gives the same stream for the same (seed, digest, n) and another for a retry', () => {
		const d = promptDigest('x');
		const a = requestRng(1, d, 0);
		const b = requestRng(1, d, 0);
		const first = [a(), a(), a()];
		expect([b(), b(), b()]).toEqual(first);
		expect(requestRng(1, d, 1)()).not.toBe(first[0]);
		expect(requestRng(2, d, 0)()).not.toBe(first[0]);
	});

	it('is close to uniform across prompts', () => {
		let sum = 0;
		let under10 = 0;
		const n = 20_000;
		for (let i = 0; i < n; i++) {
			const u = requestRng(1, promptDigest(`p${i}`), 0)();
			expect(u >= 0 && u < 1).toBe(true);
			sum += u;
			if (u < 0.1) under10++;
		}
		expect(sum / n).toBeGreaterThan(0.48);
		expect(sum / n).toBeLessThan(0.52);
		expect(under10 / n).toBeGreaterThan(0.09);
		expect(under10 / n).toBeLessThan(0.11);
	});
});

describe('sandbox CLI flags', () => {
	it('parses every flag into sandbox options', async () => {
		const { parseCliArgs } = await import('../../sandbox/cli');
		expect(
			parseCliArgs([
				'--port',
				'9000',
				'--rpm',
				'600',
				'--tpm',
				'90000',
				'--burst',
				'2',
				'--latency',
				'50-300',
				'--faults',
				'status500=0.02,reset=0.01',
				'--seed',
				'7',
				'--api-keys',
				'a,b',
				'--quota-exhausted',
				'--hang-ms',
				'500',
			]),
		).toEqual({
			port: 9000,
			rpm: 600,
			tpm: 90000,
			burstSeconds: 2,
			latencyMs: { min: 50, max: 300 },
			faults: { status500: 0.02, reset: 0.01 },
			seed: 7,
			apiKeys: ['a', 'b'],
			quotaExhausted: true,
			hangMs: 500,
		});
		expect(parseCliArgs([])).toEqual({ port: 8787 });
		expect(parseCliArgs(['--latency', '20']).latencyMs).toEqual({ min: 20, max: 20 });
	});

	it('rejects unknown faults, flags and bad numbers', async () => {
		const { parseCliArgs } = await import('../../sandbox/cli');
		expect(() => parseCliArgs(['--faults', 'nope=1'])).toThrow(/Unknown fault nope/);
		expect(() => parseCliArgs(['--rpm', 'lots'])).toThrow(/--rpm/);
		expect(() => parseCliArgs(['--latency', '5..9'])).toThrow(/--latency/);
		expect(() => parseCliArgs(['--verbose'])).toThrow();
	});
});
