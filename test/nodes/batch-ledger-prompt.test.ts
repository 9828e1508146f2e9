/**
 * Batch Ledger's Skip Completed honours the prompt, as LLM Batch Call does —
 * a record whose prompt changed since its stored answer goes to To Do, not to Completed.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { inputPolicy, isItemError } from '../../core/call/input';
import { closeAllStores, openStore } from '../../core/ledger';
import { router } from '../../nodes/BatchLedger/actions/router';
import { result, T0 } from '../core/ledger/fixtures';
import { mockExecute } from '../helpers/mock-execute';

afterAll(async () => closeAllStores());

/** The inputHash LLM Batch Call stores with a result for this prompt. */
function storedHash(prompt: string, system = ''): string {
	const item = inputPolicy({
		provider: 'openai',
		scope: 'test-scope',
		model: 'gpt-4o-mini',
		maxTokens: 10,
		contextWindow: 0,
	})(0, { prompt, system, recordId: 'x' });
	if (isItemError(item) || !item.inputHash) throw new Error('no input hash');
	return item.inputHash;
}

describe('Batch Ledger: Skip Completed and the prompt', () => {
	it('a record whose prompt changed goes to To Do, not Completed with a stale result', async () => {
		const path = join(mkdtempSync(join(tmpdir(), 'ledger-prompt-')), 'ledger.sqlite');
		const store = openStore({ kind: 'sqlite', path });
		await store.init();
		await store.writeBatch('job', [
			{
				type: 'succeeded',
				result: result('a', 'ha', { inputHash: storedHash('old prompt') }),
				at: T0,
			},
			{
				type: 'succeeded',
				result: result('b', 'hb', { inputHash: storedHash('same prompt') }),
				at: T0,
			},
			{
				type: 'succeeded',
				result: result('s', 'hs', { inputHash: storedHash('same prompt', 'Be brief.') }),
				at: T0,
			},
			// Stored before prompts were hashed on their own: cannot tell, stays Completed.
			{ type: 'succeeded', result: result('legacy', 'hl'), at: T0 },
		]);
		const items = [
			{ id: 'a', text: 'new prompt' },
			{ id: 'b', text: 'same prompt' },
			{ id: 's', text: 'same prompt' },
			{ id: 'legacy', text: 'whatever' },
		];
		const m = mockExecute({
			items,
			parameters: {
				operation: 'skipCompleted',
				ledgerStore: 'sqlite',
				ledgerSqlitePath: path,
				ledgerJob: 'job',
				recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
				prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
				systemPrompt: (_i: number, item: { json: Record<string, unknown> }) =>
					item.json.id === 's' ? 'Be brief.' : '',
				includeResult: false,
			},
		});
		const [todo, completed] = await router(m.fns);
		expect(todo.map((i) => i.json.id)).toEqual(['a']);
		expect(completed.map((i) => i.json.id)).toEqual(['b', 's', 'legacy']);
	});
});
