/**
 * `npm run bench:tokens`: token counting stays linear. For prompts of 1 MB
 * and 10 MB of prose (spaces), one long word (no spaces: base64-like), and CJK, times
 *   - countTokens(text, 'gpt-4o')  — the exact, chunked BPE count,
 *   - estimateTokens(text)         — the one estimator,
 *   - LLM Batch Call's input check — the whole per-item path (estimate + exact window check),
 * each against a baseline in the same run (one pass computing the UTF-8 length), and checks
 * the ceiling: at most 200 ms per MB. Before the fix a 130 KB prompt without spaces blocked
 * the event loop for 7.9 s and 1 MB never finished.
 */
import { inputPolicy, isItemError } from '../core/call/input';
import { countTokens, estimateTokens } from '../core/tokens';

const CEILING_MS_PER_MB = 200;
const MB = 1 << 20;

function text(kind: 'spaces' | 'no spaces' | 'CJK', bytes: number): string {
	if (kind === 'spaces')
		return 'The invoice total does not match the order. '.repeat(bytes / 44 + 1).slice(0, bytes);
	if (kind === 'no spaces') return Buffer.alloc((bytes * 3) / 4, 'llm-batch').toString('base64');
	return '机器学习与自然语言处理'.repeat(bytes / 33 + 1).slice(0, bytes / 3);
}

function time(fn: () => unknown): number {
	const start = performance.now();
	fn();
	return performance.now() - start;
}

export function measureTokens(sizesMb: readonly number[] = [1, 10]): boolean {
	countTokens('warm up the tokenizer', 'gpt-4o');
	const check = inputPolicy({
		provider: 'openai',
		scope: 'test-scope',
		model: 'gpt-4o',
		maxTokens: 100,
		contextWindow: 0,
	});
	const rows: string[] = [
		'| Prompt | Size | Baseline (UTF-8 length) | countTokens exact | estimateTokens | Input check (whole item) | ms per MB (worst) | Ceiling | Verdict |',
		'|---|---|---|---|---|---|---|---|---|',
	];
	let ok = true;
	for (const size of sizesMb) {
		for (const kind of ['spaces', 'no spaces', 'CJK'] as const) {
			const t = text(kind, size * MB);
			const megabytes = Buffer.byteLength(t) / MB;
			const base = Math.max(
				time(() => Buffer.byteLength(t)),
				0.01,
			);
			const exact = time(() => countTokens(t, 'gpt-4o'));
			const estimate = time(() => estimateTokens(t));
			const item = time(() => {
				const out = check(0, { prompt: t, system: '', recordId: 'r' });
				if (!isItemError(out) && size > 1) throw new Error('a 10 MB prompt must not fit');
			});
			const worst = Math.max(exact, estimate, item) / megabytes;
			const pass = worst <= CEILING_MS_PER_MB;
			ok &&= pass;
			const cell = (ms: number) => `${ms.toFixed(1)} ms (${(ms / base).toFixed(0)}x)`;
			rows.push(
				`| ${kind} | ${megabytes.toFixed(1)} MB | ${base.toFixed(2)} ms | ${cell(exact)} | ${cell(estimate)} | ${cell(item)} | ${worst.toFixed(1)} | ≤ ${CEILING_MS_PER_MB} | ${pass ? 'pass' : '**miss**'} |`,
			);
		}
	}
	console.log(rows.join('\n'));
	return measureShortItems() && ok;
}

/** At most this per short prompt once the encoding is loaded (a rank-table reload per call takes ~100 ms). */
const CEILING_MS_PER_ITEM = 1;

/**
 * 2,000 short prompts, one countTokens call each, against a baseline in the same run (their
 * UTF-8 lengths): a regression to loading the rank table per call shows here, where the MB
 * rows above (one call each) cannot see it.
 */
function measureShortItems(): boolean {
	countTokens('warm up', 'gpt-4o');
	const prompt = 'The customer reports that the invoice total does not match the order. '.repeat(4);
	const prompts = Array.from({ length: 2000 }, (_, i) => `${prompt}${i}`);
	const base = Math.max(
		time(() => prompts.forEach((p) => Buffer.byteLength(p))),
		0.01,
	);
	const exact = time(() => prompts.forEach((p) => countTokens(p, 'gpt-4o')));
	const perItem = exact / prompts.length;
	const pass = perItem <= CEILING_MS_PER_ITEM;
	console.log(
		[
			'',
			'| Prompts | Baseline (UTF-8 length) | countTokens exact | ms per prompt | Ceiling | Verdict |',
			'|---|---|---|---|---|---|',
			`| 2,000 × ${prompt.length + 4} chars | ${base.toFixed(2)} ms | ${exact.toFixed(1)} ms (${(exact / base).toFixed(0)}x) | ${perItem.toFixed(3)} | ≤ ${CEILING_MS_PER_ITEM} | ${pass ? 'pass' : '**miss**'} |`,
		].join('\n'),
	);
	return pass;
}

if (require.main === module) {
	const quick = process.argv.includes('--quick');
	const ok = measureTokens(quick ? [1] : [1, 10]);
	process.exitCode = ok ? 0 : 1;
}
