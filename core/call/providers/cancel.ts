/**
 * A request's cancel signal, carried to the transport beside the SDK rather than through it
 * (Anthropic; OpenAI chat completions go through ./openai-chat.ts, no SDK pipeline at all).
 * Given a `signal`, openai 7 joins it to each request with `AbortSignal.any` and
 * @anthropic-ai/sdk 1 registers each request with a FinalizationRegistry: weak references that
 * only a full GC clears, so every request's state (the joined signal, its listeners, the socket
 * request they reach) outlived the young generation. Over 20,000 items that was the largest
 * share of the call's promoted garbage, and n8n's heap grew by it before V8 collected
 * (`npm run bench:memory-n8n`). As a fetch option it is one listener, removed when the answer is
 * in.
 */
import { onAbort } from '../../abort';

const CANCEL = Symbol('llm-batch.cancel');

type CancelInit = RequestInit & { [CANCEL]?: AbortSignal };

/** SDK request options that hand `signal` to the fetch: both SDKs copy `fetchOptions` into its init. */
export function cancelOption(signal: AbortSignal | undefined): { fetchOptions?: object } {
	return signal ? { fetchOptions: { [CANCEL]: signal } } : {};
}

/**
 * `fetchImpl`, aborted by the SDK's own signal (its timeout) or by the cancel signal that
 * `cancelOption` put in the init, whichever comes first.
 */
export function cancellableFetch(fetchImpl: typeof fetch): typeof fetch {
	return (input, init) => {
		const cancel = (init as CancelInit | undefined)?.[CANCEL];
		if (!cancel) return fetchImpl(input, init);
		// The SDK's signal (its timeout) and the cancel both end the one signal the fetch gets.
		const { signal, ...rest } = init as CancelInit;
		delete rest[CANCEL];
		const controller = new AbortController();
		const detach: Array<() => void> = [];
		// The cancel signal lives as long as the run (../../abort.ts); the SDK's as one request.
		if (cancel.aborted) controller.abort(cancel.reason);
		else detach.push(onAbort(cancel, () => controller.abort(cancel.reason)));
		if (signal?.aborted) controller.abort(signal.reason);
		else if (signal) {
			const abort = () => controller.abort(signal.reason);
			signal.addEventListener('abort', abort, { once: true });
			detach.push(() => signal.removeEventListener('abort', abort));
		}
		const done = () => {
			for (const d of detach) d();
		};
		return fetchImpl(input, { ...rest, signal: controller.signal }).finally(done);
	};
}
