/**
 * Abort listeners on a long-lived signal (a run's stop or cancel, a breaker's change) that
 * leave nothing behind when they are removed.
 *
 * Why not `addEventListener` / `removeEventListener` per request or per wait: Node's
 * EventTarget keeps a removed listener linked to its neighbours (its `next`, `previous` and
 * callback stay set). Once V8 has moved such a listener to the old generation, its `next`
 * keeps the listener added after it alive through every young-generation GC, that one the
 * next, and so on — with each listener's closure, hence each request's body, answer and
 * socket objects. At batch rates that moved the whole per-request graph to the old generation
 * until the next full GC, and n8n's heap grew by it during the run (`npm run bench:memory-n8n`).
 * Here the signal gets one listener, and each entry drops all its links when removed.
 */
interface Entry {
	fn: (() => void) | undefined;
	prev: Entry | undefined;
	next: Entry | undefined;
}

/** The entries of one signal, in the order they were added. */
class Listeners {
	private head: Entry | undefined;
	private tail: Entry | undefined;

	add(fn: () => void): Entry {
		const e: Entry = { fn, prev: this.tail, next: undefined };
		if (this.tail) this.tail.next = e;
		else this.head = e;
		this.tail = e;
		return e;
	}

	remove(e: Entry): void {
		if (e.fn === undefined) return;
		if (e.prev) e.prev.next = e.next;
		else this.head = e.next;
		if (e.next) e.next.prev = e.prev;
		else this.tail = e.prev;
		e.fn = e.prev = e.next = undefined;
	}

	/** Calls every entry once, each removed first (a listener may add or remove others). */
	fire(): void {
		for (let e = this.head; e; e = this.head) {
			const fn = e.fn!;
			this.remove(e);
			fn();
		}
	}
}

const bySignal = new WeakMap<AbortSignal, Listeners>();

/**
 * Calls `fn` once when `signal` aborts, as `addEventListener('abort', fn, { once: true })`
 * does (a signal already aborted never calls it: look at `aborted` first); the returned
 * function removes it. Removing after the call, or twice, does nothing.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
	if (signal.aborted) return () => undefined;
	const listeners = bySignal.get(signal) ?? listen(signal);
	const entry = listeners.add(fn);
	return () => listeners.remove(entry);
}

/** The signal's one real listener, firing its entries. */
function listen(signal: AbortSignal): Listeners {
	const listeners = new Listeners();
	signal.addEventListener('abort', () => listeners.fire(), { once: true });
	bySignal.set(signal, listeners);
	return listeners;
}
