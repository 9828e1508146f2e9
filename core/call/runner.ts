/**
 * Drives items through breaker -> concurrency gate -> flow controller -> provider ->
 * interpretation (./attempt.ts), with the one retry layer, the run-wide stops (auth, quota,
 * budget, outage) and the checkpoint (./claims.ts). Never throws for an item: every item ends
 * as exactly one `Outcome`. A stop stops sending; requests already out finish and their answers
 * are kept. Only the execution's cancel signal aborts requests in flight.
 */
import { runItem, type ItemEnd } from './attempt';
import { ConfigurationError } from './preflight';
import { RunState } from './run-state';
import type { RunnerOptions } from './runner-options';
import type { Outcome, RunItem, RunStats } from './types';
import type { ErrorCode, ItemError } from '../types';

export { ConfigurationError } from './preflight';
export type { CircuitOptions, RunnerOptions } from './runner-options';
// The run's vocabulary lives in ./types; re-exported where callers have always found it.
export {
	addUsage,
	emptyStats,
	type Outcome,
	type RunEvent,
	type RunItem,
	type RunStats,
} from './types';

/** How often a record claimed by another execution is looked at again. */
const CLAIM_POLL_MS = 1000;

/** Items that ran out of attempts on provider noise: a second pass after the others. */
type Again = Array<{ item: RunItem; error: ItemError }>;

export class BatchRunner {
	private readonly state: RunState;

	constructor(options: RunnerOptions) {
		this.state = new RunState(options);
	}

	/** Live counters; the progress line and the final hint read them. */
	get stats(): RunStats {
		return this.state.stats;
	}

	/** Prices requests and keeps the cap: shared by every runner of the run. */
	get meter() {
		return this.state.meter;
	}

	/**
	 * Runs every item to one outcome. Rejects only with a `ConfigurationError` (the first
	 * answer proved the configuration cannot work; nothing else was sent) or a ledger failure.
	 */
	async run(items: RunItem[], opts: { keepFlow?: boolean } = {}): Promise<Outcome[]> {
		try {
			return await this.runAll(items);
		} finally {
			// Several calls (multi-item waves) keep the lease until `releaseFlow`.
			if (!opts.keepFlow) this.state.options.flow.release();
			this.state.refreshReports();
		}
	}

	/** Ends the flow lease after runs made with `keepFlow`. */
	releaseFlow(): void {
		this.state.options.flow.release();
	}

	/** Stop the run: nothing new is sent, items not yet sent fail with `code`; answers in flight are kept. */
	stop(code: ErrorCode, message: string): void {
		this.state.stop(code, message);
	}

	/** Whether a grouped request ended unsent because another execution took over one of its records. */
	lostClaim(item: RunItem): boolean {
		return this.state.claims.lostClaim(item);
	}

	/** A grouped request's paid tickets; `share` of them is stored in its records' results. */
	recordGroup(item: RunItem, share: number): Promise<void> {
		return this.state.claims.recordGroup(item, share);
	}

	private async runAll(items: RunItem[]): Promise<Outcome[]> {
		const s = this.state;
		this.linkCancel();
		this.checkTokensPerMinute(items);
		s.stats.total = items.length;
		s.stats.startedAt = s.options.clock.now();
		const outcomes: Outcome[] = new Array(items.length);
		const position = new Map<RunItem, number>();
		items.forEach((item, pos) => position.set(item, pos));
		const settle = (item: RunItem, outcome: Outcome) => (outcomes[position.get(item)!] = outcome);
		let pending = await this.stored(items, settle);
		if ((s.options.failFast ?? true) && pending.length > 1) s.startProof();
		const again: Again = [];
		if (s.options.warmUp && !s.proof && !s.warm && pending.length > 1) {
			// Without the fail-fast proof, the cache warm-up sends the first item alone.
			const first = pending[0];
			const warmed = await runItem(s, first, false);
			pending = pending.slice(1);
			// Another execution holds it: it waits with the deferred items.
			if ('deferred' in warmed) pending.push(first);
			else if ('secondPass' in warmed) again.push({ item: first, error: warmed.secondPass });
			else settle(first, warmed);
		}
		await this.rounds(pending, again, settle);
		if (s.options.checkpoint) await s.options.checkpoint.flush();
		if (s.configError) throw s.configError;
		return outcomes;
	}

	/** The execution's cancel aborts requests in flight and stops the run. */
	private linkCancel(): void {
		const { options, cancelController, stopController } = this.state;
		const cancel = options.signal;
		if (!cancel) return;
		const onCancel = () => {
			cancelController.abort(cancel.reason);
			stopController.abort(cancel.reason);
		};
		if (cancel.aborted) onCancel();
		else cancel.addEventListener('abort', onCancel, { once: true });
	}

	private checkTokensPerMinute(items: RunItem[]): void {
		const tpm = this.state.options.flow.limits.tpm;
		for (const item of items) {
			const estimate = item.inputTokens + item.request.maxTokens;
			if (estimate > tpm) {
				throw new ConfigurationError(
					`Tokens per Minute (${tpm}) is smaller than one request: item ${item.index} needs about ${estimate} tokens (prompt estimate + Max Tokens)`,
					'Tokens per Minute',
					'Raise Tokens per Minute to your real limit, or lower Max Tokens; nothing was sent.',
				);
			}
		}
	}

	/** Answers the ledger already holds settle their items; the rest is returned to send. */
	private async stored(
		items: RunItem[],
		settle: (item: RunItem, outcome: Outcome) => void,
	): Promise<RunItem[]> {
		const s = this.state;
		const real = items.filter((i) => !i.group);
		if (!s.options.checkpoint || real.length === 0) return items;
		const known = await s.options.checkpoint.lookup(
			real.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
		);
		const pending: RunItem[] = [];
		let k = 0;
		for (const item of items) {
			// Positions in `known` are those of the non-group items.
			const stored = item.group ? undefined : known[k++];
			if (stored) settle(item, s.fromLedger(item, stored));
			else pending.push(item);
		}
		return pending;
	}

	/**
	 * Items under way in rounds: records another execution holds are tried again after this
	 * run's own work, until that execution's answer is stored (used as is) or its lease ends
	 * (taken over); then the second pass, when the provider proved healthy.
	 */
	private async rounds(
		pending: RunItem[],
		again: Again,
		settle: (item: RunItem, outcome: Outcome) => void,
	): Promise<void> {
		const s = this.state;
		// More than the slots, so one waiting out a backoff (without a slot) leaves its slot to
		// another item; bounded, so 100k items are not 100k open frames.
		const underWay = Math.max(s.options.concurrency * 4, 16);
		let round = pending;
		let first = true;
		for (;;) {
			const deferred: RunItem[] = [];
			const end = (item: RunItem, outcome: ItemEnd) => {
				if ('deferred' in outcome) deferred.push(item);
				else if ('secondPass' in outcome) again.push({ item, error: outcome.secondPass });
				else settle(item, outcome);
			};
			await this.inTurn(round, underWay, (item, n) => this.one(item, first && n === 0, end));
			first = false;
			if (deferred.length === 0) {
				if (again.length === 0) return;
				const second = again.splice(0);
				if (!s.healthy()) {
					for (const a of second) settle(a.item, s.fail(a.item, a.error));
					return;
				}
				round = second.map((a) => a.item);
				continue;
			}
			try {
				await s.options.clock.sleep(CLAIM_POLL_MS, s.stopController.signal);
			} catch {
				// stopped or canceled: the next round fails the deferred items
			}
			round = deferred;
		}
	}

	/**
	 * `work` over `items` in order, at most `width` at once. Why not p-limit over `items.map`: that
	 * makes a closure and two promises per item up front, 20,000 of them for 20,000 items, which
	 * V8 moves to the old generation before their turn comes and keeps after it.
	 */
	private async inTurn(
		items: RunItem[],
		width: number,
		work: (item: RunItem, n: number) => Promise<void>,
	): Promise<void> {
		let next = 0;
		const worker = async () => {
			while (next < items.length) {
				const n = next++;
				await work(items[n], n);
			}
		};
		await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
	}

	private async one(
		item: RunItem,
		proving: boolean,
		end: (item: RunItem, outcome: ItemEnd) => void,
	): Promise<void> {
		try {
			end(item, await runItem(this.state, item, proving));
		} finally {
			// However the first item ends, the others must not wait on it forever.
			if (proving) this.state.settleProof(undefined);
		}
	}
}
