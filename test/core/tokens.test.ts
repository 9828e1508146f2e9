import { describe, expect, it } from 'vitest';

import { inputPolicy, isItemError } from '../../core/call/input';
import { countTokens, estimateTokens, jsonSchemaTokens, tokenizerFor } from '../../core/tokens';
import { INVOICE_SCHEMA } from '../helpers/pdf';

describe('tokenizerFor', () => {
	it.each([
		['gpt-4o', 'o200k_base'],
		['gpt-4o-mini-2024-07-18', 'o200k_base'],
		['gpt-4.1-nano', 'o200k_base'],
		['gpt-5-mini', 'o200k_base'],
		['o3', 'o200k_base'],
		['o4-mini', 'o200k_base'],
		['o1-preview', 'o200k_base'],
		['chatgpt-4o-latest', 'o200k_base'],
		['openai/GPT-4o', 'o200k_base'],
		['gpt-4', 'cl100k_base'],
		['gpt-4-turbo', 'cl100k_base'],
		['gpt-3.5-turbo', 'cl100k_base'],
		['text-embedding-3-small', 'cl100k_base'],
		['claude-sonnet-4-5', 'approx'],
		['llama-3.1-70b', 'approx'],
		['mistral-large', 'approx'],
		['qwen2.5', 'approx'],
		['omni-unknown', 'approx'],
		['', 'approx'],
	])('%s uses %s', (model, expected) => {
		expect(tokenizerFor(model)).toBe(expected);
	});
});

describe('countTokens', () => {
	it('counts OpenAI-family text with the real BPE (o200k_base)', () => {
		// "hello world" is two tokens in both o200k_base and cl100k_base.
		expect(countTokens('hello world', 'gpt-4o-mini')).toBe(2);
		expect(countTokens('hello world', 'gpt-4')).toBe(2);
	});

	it('differs between encodings where the vocabularies differ', () => {
		const text = 'Привет, как дела? Это тестовое сообщение для токенизатора.';
		const o200k = countTokens(text, 'gpt-4o');
		const cl100k = countTokens(text, 'gpt-3.5-turbo');
		expect(o200k).toBeGreaterThan(0);
		expect(cl100k).toBeGreaterThan(o200k);
	});

	it('approximates other models with the one estimator', () => {
		for (const text of [
			'abcdefg',
			'hello world, this is prose.',
			'我们今天讨论',
			'f(a,b){return a+b;}',
		]) {
			expect(countTokens(text, 'claude-haiku-4-5')).toBe(estimateTokens(text));
			expect(countTokens(text, 'llama3')).toBe(estimateTokens(text));
		}
	});

	it('is zero for empty text', () => {
		expect(countTokens('', 'gpt-4o')).toBe(0);
		expect(countTokens('', 'claude-3-5-haiku')).toBe(0);
	});

	it('counts special-token strings in user data as plain text instead of throwing', () => {
		expect(countTokens('a <|endoftext|> b', 'gpt-4o')).toBeGreaterThan(3);
	});
});

const SAMPLES = {
	prose:
		'The customer reports that the invoice total does not match the order they placed. '.repeat(
			400,
		),
	cjk: '我们今天讨论的是机器学习与自然语言处理的问题。客户说发票金额和订单不一致，请尽快处理。'.repeat(
		400,
	),
	code: 'function total(items) {\n  return items.reduce((sum, x) => sum + x.price * x.qty, 0);\n}\nconst cfg = { retries: [1, 2, 3], mode: "fast" };\n'.repeat(
		200,
	),
	base64: Buffer.from(Array.from({ length: 30_000 }, (_, i) => (i * 2654435761) % 256)).toString(
		'base64',
	),
	cyrillic: 'Привет, как дела? Это тестовое сообщение для токенизатора. '.repeat(300),
};

describe('one token estimator', () => {
	it('estimates CJK text and code honestly: never well under the real count', () => {
		for (const [kind, text] of Object.entries(SAMPLES)) {
			const estimate = estimateTokens(text);
			// The real counts of the two OpenAI vocabularies (cl100k is the less efficient one).
			const real = Math.max(countTokens(text, 'gpt-4o'), countTokens(text, 'gpt-4'));
			const ratio = estimate / real;
			expect({ kind, under: ratio < 0.9 }).toEqual({ kind, under: false });
			// …and not wildly over either (the TPM bucket would then idle).
			expect({ kind, over: ratio > 2.5 }).toEqual({ kind, over: false });
		}
	});

	it('LLM Batch Call charges the limiter with that estimator (CJK is not chars/4)', () => {
		const policy = inputPolicy({
			provider: 'anthropic',
			scope: 'test-scope',
			model: 'claude-haiku-4-5',
			maxTokens: 10,
			contextWindow: 0,
		});
		const text = SAMPLES.cjk.slice(0, 1000);
		const item = policy(0, { prompt: text, system: '', recordId: 'r' });
		if (isItemError(item)) throw new Error(item.message);
		expect(item.inputTokens).toBe(estimateTokens(text) + 8);
		expect(item.inputTokens).toBeGreaterThanOrEqual(text.length * 0.9);
	});

	it(
		'counts 1 MB without spaces, of CJK and of prose without freezing (chunked, linear)',
		{ timeout: 30_000 },
		() => {
			countTokens('warm up', 'gpt-4o');
			const mb = 1 << 20;
			const texts = {
				noSpaces: 'a'.repeat(mb),
				base64: Buffer.alloc((mb * 3) / 4, 7).toString('base64'),
				cjk: '机器学习'.repeat(mb / 12),
				prose: 'word '.repeat(mb / 5),
			};
			for (const [kind, text] of Object.entries(texts)) {
				const n = countTokens(text, 'gpt-4o');
				expect({ kind, positive: n > 0 }).toEqual({ kind, positive: true });
				// Counted in bounded chunks: within a token per chunk of the chunks' own sum.
				expect(n).toBeGreaterThanOrEqual(estimateTokens(text) / 10);
			}
		},
	);
});

describe('a JSON Schema counted as input', () => {
	const cases: Array<[string, Record<string, unknown>]> = [
		['the invoice schema', INVOICE_SCHEMA],
		[
			'a schema with Chinese descriptions',
			{
				type: 'object',
				properties: {
					category: { type: 'string', description: '工单的类别，例如账单、技术问题或退款' },
					urgency: { type: 'integer', minimum: 1, maximum: 5, description: '紧急程度' },
				},
				required: ['category', 'urgency'],
			},
		],
	];
	it.each(cases)('%s: at or a little over the real BPE count, not twice it', (_name, schema) => {
		const real = countTokens(JSON.stringify(schema), 'gpt-4o');
		const counted = jsonSchemaTokens(schema);
		expect(counted / real).toBeGreaterThanOrEqual(0.95);
		expect(counted / real).toBeLessThanOrEqual(1.15);
	});
});
