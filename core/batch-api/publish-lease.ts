/**
 * Publishing a batch's results is claimed, as sending a record is: a Collect takes a lease on
 * each batch before it emits any of its records, with the claim owner identity and the lease
 * length of core/ledger/checkpoint.ts. Another Collect of the same job at once finds the
 * batch taken and emits none of it; a Collect that died (its process gone, or its lease run
 * out) is taken over, and what it had published — never handed on — is published again.
 * Its records become emitted only when the holder finishes (`finish`), just before the node
 * hands its items on: a kill -9 anywhere before that loses nothing.
 */
import { DEFAULT_LEASE_MS, claimOwner, ownerIsDead } from '../ledger/checkpoint';
import type { BatchRow } from './store/batches';
import type { JobContext } from './context';

export class CollectLeaseLost extends Error {
	override readonly name = 'CollectLeaseLost';
}

export class PublishLease {
	readonly owner = claimOwner();
	private readonly held = new Set<string>();

	constructor(
		private readonly ctx: JobContext,
		private readonly leaseMs = DEFAULT_LEASE_MS,
	) {}

	private until(): string {
		return new Date(this.ctx.clock.now() + this.leaseMs).toISOString();
	}

	/**
	 * Takes the batch for this Collect: free, already ours, or held by an owner that is gone
	 * (dead process, lease over). False: another live Collect publishes it.
	 */
	async take(row: BatchRow): Promise<boolean> {
		if (this.held.has(row.batchId)) return true;
		const holder = row.collectOwner ?? null;
		if (holder !== null) {
			const over =
				row.collectUntil !== null && Date.parse(row.collectUntil ?? '') <= this.ctx.clock.now();
			if (!over && !ownerIsDead(holder)) return false;
		}
		const taken = await this.ctx.batches.takeCollectLease(this.ctx.job, row.batchId, {
			owner: this.owner,
			until: this.until(),
			previous: holder,
		});
		if (taken) {
			this.held.add(row.batchId);
			if (holder !== null)
				this.ctx.log?.(
					`Job ${this.ctx.job}: batch ${row.batchId} taken over from a Collect that did not finish (its records are published again)`,
				);
		}
		return taken;
	}

	/** A batch that is gone from the ledger (un-adopted): no longer held. */
	forget(batchId: string): void {
		this.held.delete(batchId);
	}

	/** Extends the leases while a Collect reads; throws when one was taken over meanwhile. */
	async renew(): Promise<void> {
		if (this.held.size === 0) return;
		const n = await this.ctx.batches.renewCollectLeases(this.ctx.job, this.owner, this.until());
		if (n !== this.held.size) throw this.lost();
	}

	/** Publishes what was emitted, stamps the `collected` batches; throws when a lease was lost. */
	async finish(collected: readonly string[]): Promise<void> {
		if (this.held.size === 0) return;
		const ok = await this.ctx.batches.finishCollect(this.ctx.job, {
			owner: this.owner,
			held: this.held.size,
			collected,
			at: new Date(this.ctx.clock.now()).toISOString(),
		});
		if (!ok) throw this.lost();
		this.held.clear();
	}

	/** A failed Collect: nothing it published counts, its batches are free at once. */
	async release(): Promise<void> {
		if (this.held.size === 0) return;
		this.held.clear();
		await this.ctx.batches.releaseCollect(this.ctx.job, this.owner);
	}

	private lost(): CollectLeaseLost {
		return new CollectLeaseLost(
			`Job ${this.ctx.job}: another Collect took over a batch this one was publishing (this one stalled past its ${Math.round(this.leaseMs / 1000)} s lease); it publishes those records, this run emits nothing. Nothing is lost.`,
		);
	}
}
