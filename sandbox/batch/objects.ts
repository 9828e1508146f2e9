/**
 * The objects the batch APIs answer with: an OpenAI batch or file, an Anthropic message
 * batch, with request counts as each provider reports them at that moment.
 */
import { lineResult, type LineUsage } from './line-result';
import { phase, type Phase } from './phase';
import type { BatchStore } from './store';
import type { Batch, StoredFile } from './types';

export interface Counts {
	p: Phase;
	ok: number;
	errored: number;
	notDone: number;
}

export function counts(store: BatchStore, b: Batch, t: number): Counts {
	const p = phase(b, t);
	let ok = 0;
	let errored = 0;
	const known = p.ended ? store.endedCounts.get(b) : undefined;
	if (known) ({ ok, errored } = known);
	else if (p.ended) {
		for (let k = 0; k < b.order.length; k++) {
			if (k >= p.done) continue;
			const r = lineResult(b, b.lines[b.order[k]], true, p.reason, store.deps.now);
			if (r.kind === 'ok') {
				ok++;
				bill(store, r.usage);
			} else errored++;
		}
		store.endedCounts.set(b, { ok, errored });
	}
	return { p, ok, errored, notDone: p.ended ? b.lines.length - p.done : 0 };
}

function openAiStatus(b: Batch, p: Phase): string {
	if (b.failure) return 'failed';
	if (p.ended) return p.reason;
	return p.canceling ? 'cancelling' : 'in_progress';
}

export function openAiBatchObject(store: BatchStore, b: Batch): Record<string, unknown> {
	const { p, ok, errored, notDone } = counts(store, b, store.deps.now());
	const status = openAiStatus(b, p);
	const files = p.ended && !b.failure;
	if (files) {
		b.outputFileId ??= store.addOutputFile(b, 'output');
		b.errorFileId ??= store.addOutputFile(b, 'error');
	}
	const s = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));
	return {
		id: b.id,
		object: 'batch',
		endpoint: '/v1/chat/completions',
		errors: b.failure
			? {
					object: 'list',
					data: [{ code: b.failure.code, message: b.failure.message, line: null, param: null }],
				}
			: null,
		input_file_id: b.inputFileId,
		completion_window: '24h',
		status,
		output_file_id: files ? b.outputFileId : null,
		error_file_id: files ? b.errorFileId : null,
		created_at: s(b.createdAt),
		in_progress_at: s(b.createdAt),
		expires_at: s(b.expiresAt),
		finalizing_at: null,
		completed_at: status === 'completed' ? s(p.endedAt) : null,
		failed_at: status === 'failed' ? s(b.createdAt) : null,
		expired_at: status === 'expired' ? s(p.endedAt) : null,
		cancelling_at: s(b.cancelAt),
		cancelled_at: status === 'cancelled' ? s(p.endedAt) : null,
		request_counts: {
			total: b.lines.length,
			completed: p.ended ? ok : p.done,
			failed: p.ended ? errored + notDone : 0,
		},
		metadata: b.metadata ?? null,
	};
}

export function anthropicBatchObject(store: BatchStore, b: Batch): Record<string, unknown> {
	const { p, ok, errored, notDone } = counts(store, b, store.deps.now());
	const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
	return {
		id: b.id,
		type: 'message_batch',
		processing_status: p.ended ? 'ended' : p.canceling ? 'canceling' : 'in_progress',
		request_counts: {
			// Like the API: outcome counts stay 0 until the whole batch has ended.
			processing: p.ended ? 0 : b.lines.length,
			succeeded: p.ended ? ok : 0,
			errored: p.ended ? errored : 0,
			canceled: p.ended && p.reason === 'cancelled' ? notDone : 0,
			expired: p.ended && p.reason !== 'cancelled' ? notDone : 0,
		},
		ended_at: p.ended ? iso(p.endedAt) : null,
		created_at: iso(b.createdAt),
		expires_at: iso(b.expiresAt),
		archived_at: null,
		cancel_initiated_at: iso(b.cancelAt),
		results_url: p.ended ? `/v1/messages/batches/${b.id}/results` : null,
	};
}

export function fileObject(f: StoredFile): Record<string, unknown> {
	return {
		id: f.id,
		object: 'file',
		bytes: f.bytes,
		created_at: Math.floor(f.createdAt / 1000),
		filename: f.output ? `${f.output.kind}.jsonl` : 'batch.jsonl',
		purpose: f.purpose,
		status: 'processed',
	};
}

/** An answered line's usage, added to what the batch APIs billed (once: counts are computed once). */
function bill(store: BatchStore, u: LineUsage): void {
	const b = store.st.billed;
	b.lines++;
	b.inputTokens += u.input;
	b.outputTokens += u.output;
	b.cacheReadTokens += u.cache.read;
	b.cacheWriteTokens += u.cache.write;
}
