/**
 * What the batch APIs keep: their settings, the uploaded and generated files, the batches
 * and the counters; new batches are shuffled here (seeded by their id).
 */
import type { IncomingMessage } from 'node:http';

import { parseGroupPrompt } from '../group';
import { requestRng } from '../prng';
import { parseAnthropic, parseOpenAi } from '../protocol';
import { promptDigest } from '../reply';
import type {
	Batch,
	BatchCapsOption,
	BatchSandboxOptions,
	BatchSandboxStats,
	Line,
	Provider,
	StoredFile,
} from './types';

export interface BatchDeps {
	now: () => number;
	seed: () => number;
	/** The API key check of the server; false answers 401. */
	authorized: (req: IncomingMessage) => boolean;
}

export type BatchSettings = Required<Omit<BatchSandboxOptions, 'caps'>> & {
	caps: Record<Provider, BatchCapsOption>;
};

const DEFAULT_CAPS: Record<Provider, BatchCapsOption> = {
	openai: { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 },
	anthropic: { maxRequests: 100_000, maxBytes: 256 * 1024 * 1024 },
	gemini: { maxRequests: 100_000, maxBytes: 2 * 1024 * 1024 * 1024 },
};

function newStats(): BatchSandboxStats {
	return {
		batchesCreated: { openai: 0, anthropic: 0, gemini: 0 },
		requestsReceived: 0,
		received: new Map(),
		groupedRecords: new Map(),
		capRejections: 0,
		billed: { lines: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
	};
}

function shuffle(n: number, rng: () => number): number[] {
	const a = Array.from({ length: n }, (_, i) => i);
	for (let i = n - 1; i > 0; i--) {
		const j = Math.floor(rng() * (i + 1));
		[a[i], a[j]] = [a[j], a[i]];
	}
	return a;
}

export class BatchStore {
	o: BatchSettings = {
		processingMs: 60_000,
		expiresAfterMs: 86_400_000,
		cancelMs: 0,
		caps: { ...DEFAULT_CAPS },
		resultFaults: {},
		failBatches: null,
		groupFaults: {},
	};
	files = new Map<string, StoredFile>();
	batches = new Map<string, Batch>();
	st: BatchSandboxStats = newStats();
	/** An ended batch's outcome counts, computed once. */
	readonly endedCounts = new WeakMap<Batch, { ok: number; errored: number }>();
	private seq = 0;

	constructor(readonly deps: BatchDeps) {}

	nextId(prefix: string): string {
		return `${prefix}${(++this.seq).toString(16).padStart(12, '0')}`;
	}

	configure(next: BatchSandboxOptions): void {
		const o = this.o;
		this.o = {
			processingMs: next.processingMs ?? o.processingMs,
			expiresAfterMs: next.expiresAfterMs ?? o.expiresAfterMs,
			cancelMs: next.cancelMs ?? o.cancelMs,
			caps: { ...o.caps, ...next.caps },
			resultFaults: next.resultFaults ?? o.resultFaults,
			failBatches: next.failBatches === undefined ? o.failBatches : next.failBatches,
			groupFaults: next.groupFaults ?? o.groupFaults,
		};
	}

	reset(): void {
		this.files = new Map();
		this.batches = new Map();
		this.st = newStats();
	}

	/** A batch in processing (or, with `failure`, failed at once; not counted as created). */
	newBatch(
		provider: Provider,
		lines: Line[],
		metadata: unknown,
		failure?: Batch['failure'],
	): Batch {
		const id =
			provider === 'openai'
				? this.nextId('batch_')
				: provider === 'gemini'
					? this.nextId('batches/gb')
					: this.nextId('msgbatch_');
		const now = this.deps.now();
		const rng = requestRng(this.deps.seed(), promptDigest(id), 0);
		const b: Batch = {
			id,
			provider,
			lines,
			order: shuffle(lines.length, rng),
			createdAt: now,
			processingMs: this.o.processingMs,
			expiresAt: now + this.o.expiresAfterMs,
			cancelMs: this.o.cancelMs,
			metadata,
			failure,
			seed: this.deps.seed(),
			groupFaults: { ...this.o.groupFaults },
		};
		this.batches.set(id, b);
		if (!failure) {
			const st = this.st;
			st.batchesCreated[provider]++;
			st.requestsReceived += lines.length;
			for (const l of lines) {
				st.received.set(l.customId, (st.received.get(l.customId) ?? 0) + 1);
				for (const id of groupedRecordIds(provider, l))
					st.groupedRecords.set(id, (st.groupedRecords.get(id) ?? 0) + 1);
			}
		}
		return b;
	}

	/** An OpenAI output or error file: its lines are generated when it is read. */
	addOutputFile(b: Batch, kind: 'output' | 'error'): string {
		const id = this.nextId('file-');
		this.files.set(id, {
			id,
			bytes: 0,
			purpose: 'batch_output',
			createdAt: this.deps.now(),
			output: { batch: b, kind },
		});
		return id;
	}

	/** Starts the cancel of a batch still running (a second cancel changes nothing). */
	cancel(b: Batch, ended: boolean): void {
		if (!ended && b.cancelAt === undefined) b.cancelAt = this.deps.now();
	}
}

/** The record IDs a grouped request line carries (none for a line of one record). */
function groupedRecordIds(provider: Provider, line: Line): string[] {
	const parsed = provider === 'openai' ? parseOpenAi(line.body) : parseAnthropic(line.body);
	if (!parsed.ok) return [];
	return (parseGroupPrompt(parsed.call.prompt) ?? []).map((r) => r.id);
}
