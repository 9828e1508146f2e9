/**
 * Where a batch stands at a moment: running, cancelling or ended (completed, expired,
 * cancelled, failed), and how many of its requests were done. Request k (in processing
 * order) is done at createdAt + processingMs * (k + 1) / n.
 */
import type { Batch } from './types';

export interface Phase {
	ended: boolean;
	canceling: boolean;
	reason: 'completed' | 'expired' | 'cancelled' | 'failed' | 'running';
	done: number;
	endedAt?: number;
}

const finishAt = (b: Batch) => b.createdAt + b.processingMs;

/** The moment processing stopped (or undefined while it runs). */
function cutAt(b: Batch, t: number): number | undefined {
	if (b.failure) return b.createdAt;
	const candidates = [finishAt(b), b.expiresAt];
	if (b.cancelAt !== undefined) candidates.push(b.cancelAt);
	const cut = Math.min(...candidates);
	return t >= cut ? cut : undefined;
}

/** Requests done by instant x. */
function doneBy(b: Batch, x: number): number {
	const n = b.lines.length;
	return b.processingMs <= 0
		? n
		: Math.max(0, Math.min(n, Math.floor(((x - b.createdAt) * n) / b.processingMs + 1e-9)));
}

export function phase(b: Batch, t: number): Phase {
	if (b.failure)
		return { ended: true, canceling: false, reason: 'failed', done: 0, endedAt: b.createdAt };
	const cut = cutAt(b, t);
	if (cut === undefined)
		return { ended: false, canceling: false, reason: 'running', done: doneBy(b, t) };
	const done = doneBy(b, cut);
	if (b.cancelAt !== undefined && cut === b.cancelAt && cut < finishAt(b)) {
		const endedAt = b.cancelAt + b.cancelMs;
		return t >= endedAt
			? { ended: true, canceling: false, reason: 'cancelled', done, endedAt }
			: { ended: false, canceling: true, reason: 'cancelled', done };
	}
	if (cut === finishAt(b) && cut <= b.expiresAt)
		return { ended: true, canceling: false, reason: 'completed', done, endedAt: cut };
	return { ended: true, canceling: false, reason: 'expired', done, endedAt: cut };
}
