import { describe, expect, it } from 'vitest';

import { APPROX_CHARS_PER_TOKEN, countTokens, tokenizerFor } from '../../core/tokens';

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

	it('approximates other models as ceil(chars / 3.5)', () => {
		expect(APPROX_CHARS_PER_TOKEN).toBe(3.5);
		expect(countTokens('abcdefg', 'claude-haiku-4-5')).toBe(2);
		expect(countTokens('abcdefgh', 'claude-haiku-4-5')).toBe(3);
		expect(countTokens('x'.repeat(350), 'llama3')).toBe(100);
	});

	it('is zero for empty text', () => {
		expect(countTokens('', 'gpt-4o')).toBe(0);
		expect(countTokens('', 'claude-3-5-haiku')).toBe(0);
	});

	it('counts special-token strings in user data as plain text instead of throwing', () => {
		expect(countTokens('a <|endoftext|> b', 'gpt-4o')).toBeGreaterThan(3);
	});

	it('stays fast per item once the encoding is loaded', () => {
		countTokens('warm up', 'gpt-4o');
		const text = 'The customer reports that the invoice total does not match the order. '.repeat(4);
		const start = performance.now();
		for (let i = 0; i < 2000; i++) countTokens(`${text}${i}`, 'gpt-4o');
		// Generous bound: a regression to re-loading the rank table per call takes seconds.
		expect(performance.now() - start).toBeLessThan(2000);
	});
});
