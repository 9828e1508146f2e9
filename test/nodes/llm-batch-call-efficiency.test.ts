import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resetSharedFlow } from '../../core/call/limiter/in-process';
import { costUsd } from '../../core/cost';
import { SqliteLedgerStore } from '../../core/ledger/sqlite';
import type { Usage } from '../../core/types';
import { llmBatchFallbackConnectionTest } from '../../nodes/LlmBatchCall/credentialTest';
import { executeLlmBatchCall } from '../../nodes/LlmBatchCall/execute';
import { expectedReply, startSandbox, type Sandbox } from '../../sandbox/server';
import { mockExecute, type MockOptions } from '../helpers/mock-execute';

const SCHEMA = {
	type: 'object',
	properties: {
		priority: { type: 'string', enum: ['low', 'normal', 'high'] },
		echo: { type: 'string' },
	},
	required: ['priority', 'echo'],
};
const INSTRUCTIONS = 'Read the support ticket and set its priority. '.repeat(260); // ~3,000 tokens

const tickets = (n: number) =>
	Array.from({ length: n }, (_, i) => ({
		id: `T${i}`,
		text: `ticket ${i}: the app crashes on page ${i}`,
	}));

function params(
	extra: Record<string, unknown> = {},
	options: Record<string, unknown> = {},
): MockOptions['parameters'] {
	return {
		provider: 'openai',
		model: 'gpt-4o-mini',
		systemPrompt: 'Set the priority.',
		prompt: (_i: number, item: { json: Record<string, unknown> }) => item.json.text,
		recordId: (_i: number, item: { json: Record<string, unknown> }) => item.json.id,
		outputFormat: 'json',
		jsonSchema: JSON.stringify(SCHEMA),
		concurrency: 4,
		requestsPerMinute: 60_000,
		tokensPerMinute: 100_000_000,
		resultField: 'llm',
		ledgerStore: 'none',
		options: { progressIntervalSeconds: 0, ...options },
		...extra,
	};
}

describe('LLM Batch Call: fewer tokens per correct answer (against the sandbox)', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ seed: 11 });
	});
	afterAll(async () => sandbox?.close());
	beforeEach(() => {
		resetSharedFlow();
		sandbox.configure({ faults: {}, groupFaults: {}, modelFaults: {} });
		sandbox.reset();
	});
	const openAi = () => ({ llmBatchOpenAiApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` } });

	it('Records per Request: one result per item with its own answer and pairedItem, even with dropped/duplicated/swapped records', async () => {
		sandbox.configure({ groupFaults: { drop: 0.2, duplicate: 0.2, swap: 0.2 } });
		const input = tickets(60);
		const m = mockExecute({
			items: input,
			parameters: params({}, { recordsPerRequest: 10 }),
			credentials: openAi(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		expect(failed).toEqual([]);
		expect(success.map((s) => (s.pairedItem as { item: number }).item)).toEqual([
			...Array(60).keys(),
		]);
		for (const [i, s] of success.entries()) {
			const llm = s.json.llm as Record<string, unknown>;
			expect(s.json.id).toBe(`T${i}`);
			expect(llm.recordId).toBe(`T${i}`);
			expect(llm.output).toEqual(expectedReply({ prompt: input[i].text, schema: SCHEMA }).output);
		}
		const st = sandbox.stats();
		expect(st.groupFaults.drop + st.groupFaults.duplicate + st.groupFaults.swap).toBeGreaterThan(0);
		// fewer requests than records: 6 grouped + the records sent again alone
		expect(st.accepted).toBeLessThan(30);
		// the summary adds up: records answered in groups + sent again alone = all records;
		// grouped requests + records sent alone = requests the sandbox answered
		const [, answered, again] =
			/· grouped requests: 6 sent, 6 answered \((\d+) records\); (\d+) records sent again alone$/
				.exec(m.hints[0].message)!
				.map(Number);
		expect(answered + again).toBe(60);
		expect(6 + again).toBe(st.accepted);
		// usage shares add up to what the sandbox billed
		const billed = success.reduce(
			(a, s) => a + (s.json.llm as { usage: { inputTokens: number } }).usage.inputTokens,
			0,
		);
		expect(billed).toBe(st.inputTokens);
	});

	it('Anthropic prompt caching: warm-up, cached reads priced at 0.1x, writes at 1.25x', async () => {
		const input = tickets(20);
		const m = mockExecute({
			items: input,
			parameters: params({
				provider: 'anthropic',
				model: 'claude-sonnet-4',
				systemPrompt: INSTRUCTIONS,
			}),
			credentials: { llmBatchAnthropicApi: { apiKey: 'k', baseUrl: sandbox.url } },
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		expect(failed).toEqual([]);
		const usages = success.map((s) => s.json.llm as { usage: Usage; costUsd: number });
		const writes = usages.filter((u) => u.usage.cacheWriteTokens);
		const reads = usages.filter((u) => u.usage.cachedInputTokens);
		// one write (the warm-up), every other request reads
		expect(writes.length).toBe(1);
		expect(reads.length).toBe(19);
		for (const u of usages) expect(u.costUsd).toBe(costUsd('claude-sonnet-4', u.usage));
		expect(m.hints[0].message).toMatch(/input tokens from the prompt cache/);
	});

	it("Anthropic prompt caching: a breakpoint on the prompts' shared lines too, when long enough for the model", async () => {
		const system = 'Set the priority.';
		const run = async (model: string, head: string) => {
			resetSharedFlow();
			sandbox.reset();
			const m = mockExecute({
				items: tickets(20),
				parameters: params({
					provider: 'anthropic',
					model,
					systemPrompt: system,
					// A template: long static instructions, then the record's own text.
					prompt: (_i: number, item: { json: Record<string, unknown> }) =>
						`${head}\n${String(item.json.text)}`,
				}),
				credentials: { llmBatchAnthropicApi: { apiKey: 'k', baseUrl: sandbox.url } },
			});
			const [success, failed] = await executeLlmBatchCall(m.fns);
			expect(failed).toEqual([]);
			return success.map((s, i) => {
				const llm = s.json.llm as { usage: Usage; costUsd: number; output: unknown };
				// The answer is the one to the whole prompt: the split changes the price only.
				expect(llm.output).toEqual(
					expectedReply({ prompt: `${head}\n${tickets(20)[i].text}`, schema: SCHEMA }).output,
				);
				expect(llm.costUsd).toBe(costUsd(model, llm.usage));
				return llm.usage;
			});
		};
		// The system prompt alone is far below 1,024 tokens; with the shared lines it is not.
		const usages = await run('claude-sonnet-4', INSTRUCTIONS);
		const prefix = Math.ceil((system.length + INSTRUCTIONS.length) / 4);
		expect(usages.filter((u) => u.cacheWriteTokens === prefix)).toHaveLength(1);
		expect(usages.filter((u) => u.cachedInputTokens === prefix)).toHaveLength(19);
		expect(sandbox.stats().cacheReadTokens).toBe(19 * prefix);
		// Claude Haiku 4.5 caches from 4,096 tokens: ~3,000 shared tokens get no breakpoint.
		await run('claude-haiku-4-5', INSTRUCTIONS);
		expect(sandbox.stats().cacheReadTokens + sandbox.stats().cacheWriteTokens).toBe(0);
		// A short template head ("Ticket:") is not worth a breakpoint of its own.
		await run('claude-sonnet-4', 'Ticket:');
		expect(sandbox.stats().cacheReadTokens + sandbox.stats().cacheWriteTokens).toBe(0);
	});

	it('Prompt Caching off: nothing marked, nothing cached', async () => {
		const m = mockExecute({
			items: tickets(5),
			parameters: params(
				{ provider: 'anthropic', model: 'claude-sonnet-4', systemPrompt: INSTRUCTIONS },
				{ promptCaching: 'off' },
			),
			credentials: { llmBatchAnthropicApi: { apiKey: 'k', baseUrl: sandbox.url } },
		});
		const [success] = await executeLlmBatchCall(m.fns);
		expect(success.length).toBe(5);
		expect(sandbox.stats().cacheReadTokens + sandbox.stats().cacheWriteTokens).toBe(0);
	});

	it('Max Re-Asks: a schema failure is fixed by a follow-up turn; Max Re-Asks 0 leaves it failed', async () => {
		sandbox.configure({ faults: { schemaViolation: 1 } });
		const m = mockExecute({
			items: tickets(4),
			parameters: params({}, { fixInvalidBy: 'reask' }),
			credentials: openAi(),
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		expect(failed).toEqual([]);
		for (const s of success) expect(s.json.llm).toMatchObject({ attempts: 2, reasks: 1 });
		resetSharedFlow();
		sandbox.reset();
		const m0 = mockExecute({
			items: tickets(4),
			parameters: params({}, { maxReasks: 0 }),
			credentials: openAi(),
		});
		const [s0, f0] = await executeLlmBatchCall(m0.fns);
		expect(s0).toEqual([]);
		expect(f0.map((f) => (f.json.error as { code: string }).code)).toEqual(
			Array(4).fill('schema_violation'),
		);
	});

	it('Fallback chain: an overloaded primary hands items to the fallback at once; a prompt over the window goes there too', async () => {
		sandbox.configure({ modelFaults: { 'gpt-4o-mini': { status503: 0.5 } } });
		const input = [...tickets(40), { id: 'LONG', text: 'long ticket '.repeat(900) }];
		const m = mockExecute({
			items: input,
			parameters: params(
				{ fallbackProvider: 'anthropic', fallbackModels: 'claude-haiku-4-5' },
				{ contextWindow: 2000, maxTokens: 200 },
			),
			credentials: { ...openAi(), llmBatchFallbackApi: { apiKey: 'k', baseUrl: sandbox.url } },
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		expect(failed).toEqual([]);
		expect(success.map((s) => (s.pairedItem as { item: number }).item)).toEqual([
			...Array(41).keys(),
		]);
		const byModel: Record<string, number> = {};
		for (const [i, s] of success.entries()) {
			const llm = s.json.llm as {
				model: string;
				output: unknown;
				fallback?: number;
				provider: string;
			};
			byModel[llm.model] = (byModel[llm.model] ?? 0) + 1;
			expect(llm.output).toEqual(expectedReply({ prompt: input[i].text, schema: SCHEMA }).output);
			expect(llm.fallback).toBe(llm.model === 'claude-haiku-4-5' ? 1 : undefined);
			expect(llm.provider).toBe(llm.model === 'claude-haiku-4-5' ? 'anthropic' : 'openai');
		}
		expect((success[40].json.llm as { model: string }).model).toBe('claude-haiku-4-5');
		expect(byModel['gpt-4o-mini'] + byModel['claude-haiku-4-5']).toBe(41);
		expect(byModel['claude-haiku-4-5']).toBeGreaterThan(5);
		expect(sandbox.stats().faults.status503).toBe(byModel['claude-haiku-4-5'] - 1);
		expect(m.hints[0].message).toContain(
			`answers per model: gpt-4o-mini ${byModel['gpt-4o-mini']}, claude-haiku-4-5 ${byModel['claude-haiku-4-5']}`,
		);
		expect(m.hints[0].message).toContain('41 of 41 items succeeded');
		sandbox.configure({ modelFaults: {} });
	});

	it('Records per Request on the fallback model too: the items the primary could not answer go there in groups', async () => {
		sandbox.configure({ modelFaults: { 'gpt-4o-mini': { status503: 1 } } });
		const input = tickets(20);
		const m = mockExecute({
			items: input,
			parameters: params(
				{ fallbackProvider: 'anthropic', fallbackModels: 'claude-haiku-4-5' },
				{ recordsPerRequest: 5 },
			),
			credentials: { ...openAi(), llmBatchFallbackApi: { apiKey: 'k', baseUrl: sandbox.url } },
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		expect(failed).toEqual([]);
		expect(success.map((s) => (s.pairedItem as { item: number }).item)).toEqual([
			...Array(20).keys(),
		]);
		for (const [i, s] of success.entries()) {
			const llm = s.json.llm as { model: string; output: unknown; groupSize?: number };
			expect(llm).toMatchObject({ model: 'claude-haiku-4-5', groupSize: 5 });
			expect(llm.output).toEqual(expectedReply({ prompt: input[i].text, schema: SCHEMA }).output);
		}
		// every answer came from 4 grouped fallback requests (the primary only answered 503s)
		expect(sandbox.stats().paidSuccesses).toBe(4);
		// 4 groups failed on the primary (503), the fallback answered its 4: the summary says
		// so per model, and its counts add up (sent = answered + failed; 20 records answered)
		const parts = m.hints[0].message.split(' · ');
		expect(parts.slice(-2)).toEqual([
			'answers per model: gpt-4o-mini 0, claude-haiku-4-5 20',
			'grouped requests: gpt-4o-mini 4 sent, 0 answered (0 records), 4 failed; claude-haiku-4-5 4 sent, 4 answered (20 records); 0 records sent again alone',
		]);
		sandbox.configure({ modelFaults: {} });
	});

	it("Records per Request: prompts over the primary's context window are grouped on the fallback, within the fallback's own window", async () => {
		// ~2,640 tokens each: over the primary's window (Context Window 2000), inside gpt-4's
		// 8,192 alone and two at a time, not three (with 3 x 200 max output tokens).
		const long = Array.from({ length: 6 }, (_, i) => ({
			id: `LONG${i}`,
			text: `long ticket ${i} `.repeat(750),
		}));
		const input = [...tickets(4), ...long];
		const m = mockExecute({
			items: input,
			parameters: params(
				{ fallbackProvider: 'openai', fallbackModels: 'gpt-4' },
				{ recordsPerRequest: 3, contextWindow: 2000, maxTokens: 200 },
			),
			credentials: {
				...openAi(),
				llmBatchFallbackApi: { apiKey: 'k', baseUrl: `${sandbox.url}/v1` },
			},
		});
		const [success, failed] = await executeLlmBatchCall(m.fns);
		expect(failed).toEqual([]);
		expect(success.map((s) => (s.pairedItem as { item: number }).item)).toEqual([
			...Array(10).keys(),
		]);
		const answers = success.map((s) => {
			const llm = s.json.llm as { model: string; groupSize?: number; output: unknown };
			return [s.json.id, llm.model, llm.groupSize];
		});
		expect(answers).toEqual([
			['T0', 'gpt-4o-mini', 3],
			['T1', 'gpt-4o-mini', 3],
			['T2', 'gpt-4o-mini', 3],
			['T3', 'gpt-4o-mini', undefined],
			...long.map((l) => [l.id, 'gpt-4', 2]),
		]);
		for (const [i, s] of success.entries())
			expect((s.json.llm as { output: unknown }).output).toEqual(
				expectedReply({ prompt: input[i].text, schema: SCHEMA }).output,
			);
		// 1 group + 1 record alone on the primary, 3 groups of 2 on the fallback
		expect(sandbox.stats().accepted).toBe(5);
		expect(m.hints[0].message.split(' · ').slice(-2)).toEqual([
			'answers per model: gpt-4o-mini 4, gpt-4 6',
			'grouped requests: gpt-4o-mini 1 sent, 1 answered (3 records); gpt-4 3 sent, 3 answered (6 records); 0 records sent again alone',
		]);
	});

	it('tests the fallback credential against either API style', async () => {
		const ok = await llmBatchFallbackConnectionTest.call({} as never, {
			id: '1',
			name: 'f',
			type: 'llmBatchFallbackApi',
			data: { apiKey: 'k', baseUrl: sandbox.url },
		});
		expect(ok).toEqual({ status: 'OK', message: 'Connection tested successfully' });
		sandbox.configure({ apiKeys: ['right'] });
		const bad = await llmBatchFallbackConnectionTest.call({} as never, {
			id: '1',
			name: 'f',
			type: 'llmBatchFallbackApi',
			data: { apiKey: 'wrong', baseUrl: `${sandbox.url}/v1` },
		});
		expect(bad).toEqual({
			status: 'Error',
			message: expect.stringMatching(/^The key was not accepted \(HTTP 40[14]\)$/),
		});
		sandbox.configure({ apiKeys: undefined });
	});

	it('Job budget: the cost cap counts what the ledger job spent in earlier executions', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'llm-batch-budget-'));
		const ledger = {
			ledgerStore: 'sqlite',
			ledgerJob: 'nightly',
			ledgerSqlitePath: join(dir, 'l.sqlite'),
		};
		try {
			const first = mockExecute({
				items: tickets(10),
				parameters: params(ledger),
				credentials: openAi(),
			});
			const [s1] = await executeLlmBatchCall(first.fns);
			const spent = s1.reduce((a, s) => a + (s.json.llm as { costUsd: number }).costUsd, 0);
			// the second chunk may spend only what is left of a cap just above the first chunk's cost:
			// two requests' most (each reserves its prompt and Max Tokens 64 before it is sent)
			const cap = spent + 2 * costUsd('gpt-4o-mini', { inputTokens: 100, outputTokens: 64 })!;
			const chunk = tickets(20).slice(10);
			resetSharedFlow();
			const second = mockExecute({
				items: chunk,
				parameters: params(
					{ ...ledger, concurrency: 1 },
					{ maxCostUsd: cap, budgetScope: 'job', maxTokens: 64 },
				),
				credentials: openAi(),
			});
			const [s2, f2] = await executeLlmBatchCall(second.fns);
			expect(s2.length).toBeGreaterThan(0);
			expect(s2.length).toBeLessThan(10);
			expect(f2.length).toBe(10 - s2.length);
			expect((f2[0].json.error as { code: string; message: string }).code).toBe('budget_exceeded');
			expect((f2[0].json.error as { message: string }).message).toMatch(/the job's cost cap/);
			// per run, the same cap would have let the whole chunk through
			resetSharedFlow();
			const perRun = mockExecute({
				items: tickets(30).slice(20),
				parameters: params({ ...ledger, concurrency: 1 }, { maxCostUsd: cap, maxTokens: 64 }),
				credentials: openAi(),
			});
			const [s3] = await executeLlmBatchCall(perRun.fns);
			expect(s3.length).toBe(10);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});

	it("Job budget: what failed records paid (answers that broke the schema) counts toward the job's cost", async () => {
		const dir = mkdtempSync(join(tmpdir(), 'llm-batch-budget-failed-'));
		const ledger = {
			ledgerStore: 'sqlite',
			ledgerJob: 'nightly',
			ledgerSqlitePath: join(dir, 'l.sqlite'),
		};
		try {
			// First chunk: every answer breaks the schema, no re-ask: 10 Failed items, all paid.
			sandbox.configure({ faults: { schemaViolation: 1 } });
			const first = mockExecute({
				items: tickets(10),
				parameters: params(ledger, { maxReasks: 0 }),
				credentials: openAi(),
			});
			const [s1, f1] = await executeLlmBatchCall(first.fns);
			expect(s1).toHaveLength(0);
			expect(f1).toHaveLength(10);
			const paid = f1.map((f) => f.json.error as { code: string; usage: Usage; costUsd: number });
			for (const e of paid) {
				expect(e.code).toBe('schema_violation');
				expect(e.costUsd).toBe(costUsd('gpt-4o-mini', e.usage));
				expect(e.costUsd).toBeGreaterThan(0);
			}
			const spent = paid.reduce((a, e) => a + e.costUsd, 0);
			sandbox.configure({ faults: {} });
			// Second chunk: a job cap one request's most (prompt + 64 output tokens) above what
			// the failed chunk paid leaves room for one answer (one at a time); counting only
			// stored successes it would let all 10 through.
			const most = costUsd('gpt-4o-mini', { inputTokens: 100, outputTokens: 64 })!;
			resetSharedFlow();
			const second = mockExecute({
				items: tickets(20).slice(10),
				parameters: params(
					{ ...ledger, concurrency: 1 },
					{ maxCostUsd: spent + most, budgetScope: 'job', maxTokens: 64 },
				),
				credentials: openAi(),
			});
			const [s2, f2] = await executeLlmBatchCall(second.fns);
			expect(s2).toHaveLength(1);
			expect(f2).toHaveLength(9);
			expect((f2[0].json.error as { code: string }).code).toBe('budget_exceeded');
		} finally {
			sandbox.configure({ faults: {} });
			rmSync(dir, { recursive: true, force: true });
		}
	});

	it("Job cost: a record that failed after paying, then succeeded in a later execution, keeps both executions' cost (fresh call) and counts a re-ask's once", async () => {
		const dir = mkdtempSync(join(tmpdir(), 'llm-batch-job-cost-'));
		const sqlitePath = join(dir, 'l.sqlite');
		const ledger = { ledgerStore: 'sqlite', ledgerSqlitePath: sqlitePath };
		const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
		const usageOf = (us: Usage[]) => ({
			inputTokens: sum(us.map((u) => u.inputTokens)),
			outputTokens: sum(us.map((u) => u.outputTokens)),
		});
		const store = new SqliteLedgerStore({ kind: 'sqlite', path: sqlitePath });
		try {
			// Execution 1 of two jobs: every answer breaks the schema (no re-ask): all Failed, all paid.
			sandbox.configure({ faults: { schemaViolation: 1 } });
			const failedRun = async (job: string) => {
				resetSharedFlow();
				const m = mockExecute({
					items: tickets(6),
					parameters: params({ ...ledger, ledgerJob: job }, { maxReasks: 0 }),
					credentials: openAi(),
				});
				const [s, f] = await executeLlmBatchCall(m.fns);
				expect(s).toHaveLength(0);
				expect(f).toHaveLength(6);
				return f;
			};
			const f1 = await failedRun('fresh');
			const r1 = await failedRun('reask');
			const paid = f1.map((f) => f.json.error as { usage: Usage; costUsd: number });
			for (const e of paid) expect(e.costUsd).toBeGreaterThan(0);
			sandbox.configure({ faults: {} });

			// Execution 2, job "fresh": the same records called fresh, all answered.
			resetSharedFlow();
			const again = mockExecute({
				items: tickets(6),
				parameters: params({ ...ledger, ledgerJob: 'fresh' }),
				credentials: openAi(),
			});
			const [s2, f2] = await executeLlmBatchCall(again.fns);
			expect(f2).toEqual([]);
			const results = s2.map((s) => s.json.llm as { usage: Usage; costUsd: number });
			await store.init();
			const fresh = await store.stats('fresh');
			expect(fresh).toMatchObject({ succeeded: 6, failed: 0 });
			// Both executions' paid answers, once each.
			expect(fresh.costUsd).toBeCloseTo(
				sum(paid.map((e) => e.costUsd)) + sum(results.map((r) => r.costUsd)),
				12,
			);
			expect({ inputTokens: fresh.inputTokens, outputTokens: fresh.outputTokens }).toEqual(
				usageOf([...paid.map((e) => e.usage), ...results.map((r) => r.usage)]),
			);

			// Execution 2, job "reask": the Failed items looped back are re-asked; each result
			// carries the first answer's usage, which must not count a second time.
			resetSharedFlow();
			const reask = mockExecute({
				items: r1.map((f) => f.json),
				parameters: params({ ...ledger, ledgerJob: 'reask' }),
				credentials: openAi(),
			});
			const [s3, f3] = await executeLlmBatchCall(reask.fns);
			expect(f3).toEqual([]);
			const reasked = s3.map(
				(s) => s.json.llm as { usage: Usage; costUsd: number; attempts: number },
			);
			const firstPaid = r1.map((f) => (f.json.error as { usage: Usage }).usage);
			for (const [k, r] of reasked.entries()) {
				expect(r.attempts).toBe(2);
				expect(r.usage.inputTokens).toBeGreaterThan(firstPaid[k].inputTokens);
			}
			const reaskStats = await store.stats('reask');
			expect(reaskStats.costUsd).toBeCloseTo(sum(reasked.map((r) => r.costUsd)), 12);
			expect({
				inputTokens: reaskStats.inputTokens,
				outputTokens: reaskStats.outputTokens,
			}).toEqual(usageOf(reasked.map((r) => r.usage)));

			// The job budget reads the same number: a cap just under it sends nothing more.
			resetSharedFlow();
			const capped = mockExecute({
				items: tickets(8).slice(6),
				parameters: params(
					{ ...ledger, ledgerJob: 'fresh' },
					{ maxCostUsd: fresh.costUsd * 0.999, budgetScope: 'job' },
				),
				credentials: openAi(),
			});
			const before = sandbox.stats().accepted;
			const [s4, f4] = await executeLlmBatchCall(capped.fns);
			expect(s4).toEqual([]);
			expect(f4.map((f) => (f.json.error as { code: string }).code)).toEqual([
				'budget_exceeded',
				'budget_exceeded',
			]);
			expect(sandbox.stats().accepted).toBe(before);
		} finally {
			sandbox.configure({ faults: {} });
			await store.close();
			rmSync(dir, { recursive: true, force: true });
		}
	});

	it('Job budget: answers served from the response cache cost the job nothing', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'llm-batch-budget-cache-'));
		const sqlitePath = join(dir, 'l.sqlite');
		const ledger = { ledgerStore: 'sqlite', ledgerJob: 'nightly', ledgerSqlitePath: sqlitePath };
		const store = new SqliteLedgerStore({ kind: 'sqlite', path: sqlitePath });
		const llmOf = (s: { json: Record<string, unknown> }) =>
			s.json.llm as { costUsd: number; cached: boolean; output: unknown };
		try {
			const first = mockExecute({
				items: tickets(5),
				parameters: params(ledger, { responseCache: 'job', maxTokens: 64 }),
				credentials: openAi(),
			});
			const [s1] = await executeLlmBatchCall(first.fns);
			expect(s1).toHaveLength(5);
			const spent = s1.reduce((a, s) => a + llmOf(s).costUsd, 0);
			// A cap the first chunk's cost and two more answers fit under (each reserves its most,
			// prompt + 64 output tokens, before it is sent), five cached ones not.
			const most = costUsd('gpt-4o-mini', { inputTokens: 100, outputTokens: 64 })!;
			const options = {
				responseCache: 'job',
				maxCostUsd: spent * 1.5 + most,
				budgetScope: 'job',
				maxTokens: 64,
			};
			// The same tickets under other record IDs: every answer from the cache, none sent.
			resetSharedFlow();
			const sent = sandbox.stats().accepted;
			const copies = mockExecute({
				items: tickets(5).map((t) => ({ ...t, id: `copy-${t.id}` })),
				parameters: params(ledger, options),
				credentials: openAi(),
			});
			const [s2, f2] = await executeLlmBatchCall(copies.fns);
			expect(f2).toEqual([]);
			expect(sandbox.stats().accepted).toBe(sent);
			// Each item still shows what its answer cost when it was paid.
			expect(s2.map((s) => llmOf(s).cached)).toEqual([true, true, true, true, true]);
			expect(s2.map((s) => llmOf(s).costUsd)).toEqual(s1.map((s) => llmOf(s).costUsd));
			await store.init();
			const stats = await store.stats('nightly');
			expect(stats).toMatchObject({ succeeded: 10 });
			expect(stats.costUsd).toBeCloseTo(spent, 12);
			// Counting the hits as spend (2 × spent) would stop this chunk before its first call.
			resetSharedFlow();
			const next = mockExecute({
				items: tickets(7).slice(5),
				parameters: params({ ...ledger, concurrency: 1 }, options),
				credentials: openAi(),
			});
			const [s3, f3] = await executeLlmBatchCall(next.fns);
			expect(f3).toEqual([]);
			expect(s3.map((s) => llmOf(s).cached)).toEqual([false, false]);
			expect(sandbox.stats().accepted).toBe(sent + 2);
		} finally {
			await store.close();
			rmSync(dir, { recursive: true, force: true });
		}
	});

	it('Records per Request with the ledger: every record stored on its own; a rerun sends nothing', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'llm-batch-group-ledger-'));
		const ledger = {
			ledgerStore: 'sqlite',
			ledgerJob: 'grouped',
			ledgerSqlitePath: join(dir, 'l.sqlite'),
		};
		try {
			sandbox.configure({ groupFaults: { swap: 0.3 } });
			const input = tickets(30);
			const first = mockExecute({
				items: input,
				parameters: params(ledger, { recordsPerRequest: 10 }),
				credentials: openAi(),
			});
			const [s1, f1] = await executeLlmBatchCall(first.fns);
			expect(f1).toEqual([]);
			expect(s1).toHaveLength(30);
			const sent = sandbox.stats().accepted;
			expect(sent).toBeGreaterThanOrEqual(3);
			resetSharedFlow();
			const again = mockExecute({
				items: input,
				parameters: params(ledger, { recordsPerRequest: 10 }),
				credentials: openAi(),
			});
			const [s2] = await executeLlmBatchCall(again.fns);
			expect(sandbox.stats().accepted).toBe(sent);
			expect(s2.map((s) => (s.json.llm as { output: unknown; cached: boolean }).output)).toEqual(
				s1.map((s) => (s.json.llm as { output: unknown }).output),
			);
			for (const [i, s] of s2.entries()) {
				expect((s.json.llm as { recordId: string }).recordId).toBe(`T${i}`);
				expect((s.json.llm as { output: unknown }).output).toEqual(
					expectedReply({ prompt: input[i].text, schema: SCHEMA }).output,
				);
			}
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});

	it('a job budget without a ledger is a configuration error', async () => {
		const m = mockExecute({
			items: tickets(1),
			parameters: params({}, { maxCostUsd: 1, budgetScope: 'job' }),
			credentials: openAi(),
		});
		await expect(executeLlmBatchCall(m.fns)).rejects.toThrow(/the Ledger is off/);
	});

	it('Fallback Provider without models is a configuration error', async () => {
		const m = mockExecute({
			items: tickets(1),
			parameters: params({ fallbackProvider: 'openai', fallbackModels: ' , ' }),
			credentials: openAi(),
		});
		await expect(executeLlmBatchCall(m.fns)).rejects.toThrow(/Fallback Models is empty/);
	});

	it('rejects Records per Request out of range before any call', async () => {
		const m = mockExecute({
			items: tickets(2),
			parameters: params({}, { recordsPerRequest: 0 }),
			credentials: openAi(),
		});
		await expect(executeLlmBatchCall(m.fns)).rejects.toThrow(
			/Records per Request must be at least 1/,
		);
		expect(sandbox.stats().requests).toBe(0);
	});
});
