import { describe, expect, it } from 'vitest';

import { packRequest, unpackRequest } from '../../../core/batch-api/payload';
import type { ChatRequest } from '../../../core/call/providers/types';

const long = (s: string) => s.repeat(Math.ceil(400 / s.length));

describe('the stored request of a submitted record', () => {
	it('a prompt that is an item field, or a template around one, stores the text once and comes back whole', () => {
		const text = long('the parcel is late; ');
		const item = { id: 'row-1', text, note: 'short' };
		for (const prompt of [text, `Classify: ${text}`, `Classify: ${text}\nAnswer in one word.`]) {
			const request: ChatRequest = {
				model: 'gpt-4o-mini',
				system: long('You classify tickets. '),
				prompt,
				maxTokens: 50,
				schema: { type: 'object' },
			};
			const packed = packRequest(request, item);
			expect(packed.length).toBeLessThan(JSON.stringify(request).length - text.length + 200);
			expect(JSON.parse(packed)).toMatchObject({
				model: 'gpt-4o-mini',
				maxTokens: 50,
				schema: { type: 'object' },
			});
			expect(unpackRequest(packed, item)).toEqual(request);
		}
	});

	it('short texts, prompts sharing no field, and stored requests of older versions pass as they are', () => {
		const request: ChatRequest = { model: 'm', prompt: 'hi', maxTokens: 5 };
		expect(packRequest(request, { text: 'hi' })).toBe(JSON.stringify(request));
		const other: ChatRequest = { model: 'm', prompt: long('x'), maxTokens: 5 };
		expect(packRequest(other, { text: long('y') })).toBe(JSON.stringify(other));
		expect(unpackRequest(JSON.stringify(other), {})).toEqual(other);
	});
});
