import { describe, expect, it } from 'vitest';

import { inputPolicy, isItemError } from '../../../core/call/input';
import { estimateTokens } from '../../../core/tokens';

const policy = inputPolicy({
	provider: 'openai',
	scope: 'test-scope',
	model: 'gpt-4o-mini',
	maxTokens: 100,
	contextWindow: 0,
});

describe('input policy (per-item prompt checks)', () => {
	it('builds a run item with a stable record ID, estimate and prompt hash', () => {
		const a = policy(3, { prompt: 'Classify: hello', system: 'Be brief.', recordId: ' T-1 ' });
		const b = policy(9, { prompt: 'Classify: hello', system: 'Be brief.', recordId: 7 });
		if (isItemError(a) || isItemError(b)) throw new Error('expected run items');
		expect(a).toMatchObject({
			index: 3,
			recordId: 'T-1',
			inputTokens: estimateTokens('Be brief.\nClassify: hello') + 8,
		});
		expect(a.request).toEqual({
			model: 'gpt-4o-mini',
			system: 'Be brief.',
			prompt: 'Classify: hello',
			schema: undefined,
			maxTokens: 100,
			temperature: undefined,
		});
		expect(b.recordId).toBe('7');
		expect(b.promptHash).toBe(a.promptHash);
	});

	it('derives a record ID from the prompt hash when none is given', () => {
		const a = policy(0, { prompt: 'x', system: '', recordId: '' });
		if (isItemError(a)) throw new Error('expected a run item');
		expect(a.recordId).toBe(`h:${a.promptHash.slice(0, 16)}`);
	});

	it('changes the hash when the model, schema or prompt changes', () => {
		const other = inputPolicy({
			provider: 'openai',
			scope: 'test-scope',
			model: 'gpt-4o',
			maxTokens: 100,
			contextWindow: 0,
		});
		const withSchema = inputPolicy({
			provider: 'openai',
			scope: 'test-scope',
			model: 'gpt-4o-mini',
			maxTokens: 100,
			contextWindow: 0,
			schema: { type: 'object' },
		});
		const hashes = [policy, other, withSchema].map(
			(p) =>
				(p(0, { prompt: 'x', system: '', recordId: 'a' }) as { promptHash: string }).promptHash,
		);
		hashes.push(
			(policy(0, { prompt: 'y', system: '', recordId: 'a' }) as { promptHash: string }).promptHash,
		);
		expect(new Set(hashes).size).toBe(4);
	});

	it.each([
		[undefined, 'Prompt resolved to undefined, not text'],
		[null, 'Prompt resolved to null, not text'],
		[{ a: 1 }, 'Prompt resolved to object, not text'],
		['   ', 'Prompt is empty for this item'],
	])('fails %j with a message naming the field and the fix', (prompt, message) => {
		expect(policy(0, { prompt, system: '', recordId: 'a' })).toEqual({
			code: 'invalid_input',
			message: expect.stringContaining(message),
			retryable: false,
			attempts: 0,
		});
	});

	it('fails a prompt over the context window, counting exactly only when it may overflow', () => {
		const small = inputPolicy({
			provider: 'openai',
			scope: 'test-scope',
			model: 'gpt-4o-mini',
			maxTokens: 100,
			contextWindow: 1000,
		});
		expect(isItemError(small(0, { prompt: 'word '.repeat(150), system: '', recordId: 'a' }))).toBe(
			false,
		); // 750 bytes, fits
		expect(isItemError(small(0, { prompt: 'word '.repeat(170), system: '', recordId: 'a' }))).toBe(
			false,
		); // 850 bytes + 100 > 1000 bytes but ~171 tokens
		expect(small(0, { prompt: 'word '.repeat(2000), system: '', recordId: 'a' })).toMatchObject({
			code: 'invalid_input',
			message: expect.stringMatching(
				/^Prompt is too long for gpt-4o-mini: about \d+ tokens \+ 100 max tokens > context window 1000/,
			),
		});
	});
});
