/**
 * The three batch APIs of the sandbox: OpenAI files + batches (/v1/files, /v1/batches, file
 * content), Anthropic message batches (/v1/messages/batches, results) and Gemini batches
 * (/v1beta/models/{m}:batchGenerateContent, /v1beta/batches, the Files API's resumable
 * upload and download; sandbox/batch/gemini.ts). Time comes from
 * the sandbox clock, so a test moves a batch from in_progress to ended by moving its fake
 * clock, without sleeping.
 *
 * A batch processes its requests in a shuffled (seeded) order, evenly over `processingMs`;
 * results come back in that order, not the input order. A batch not finished when it
 * expires (`expiresAfterMs`) or is cancelled keeps the requests done until then, and the
 * rest come back expired / canceled. Prompts carrying `[[sandbox:status400]]` or
 * `[[sandbox:status500]]` come back as failed lines. Caps are enforced as the providers do.
 * Each succeeded line is the sandbox's normal reply to that prompt (sandbox/reply.ts).
 *
 * The pieces live in sandbox/batch/: the store, a batch's phase, line results, result
 * files and their faults, the API objects, files, creation and the routes.
 */
import { routeBatch } from './batch/routes';
import { BatchStore, type BatchDeps } from './batch/store';
import type { BatchSandbox } from './batch/types';
import { sendJson } from './http';

export type {
	BatchCapsOption,
	BatchSandbox,
	BatchSandboxOptions,
	BatchSandboxStats,
	ResultFaults,
} from './batch/types';

const BATCH_PATH =
	/^\/(v1\/(files|batches|messages\/batches)(\/|$)|v1beta\/(batches|models\/[^/]+:batchGenerateContent$)|(upload|download)\/v1beta\/files)/;

export function createBatchSandbox(deps: BatchDeps): BatchSandbox {
	const store = new BatchStore(deps);
	return {
		handle(method, path, req, res) {
			if (!BATCH_PATH.test(path)) return false;
			const work = routeBatch(store, method, path, req, res);
			if (work)
				work.catch((e: unknown) =>
					sendJson(res, 500, {
						error: { message: `sandbox: ${(e as Error).message}`, type: 'server_error' },
					}),
				);
			return true;
		},
		configure: (next) => store.configure(next),
		stats: () => store.st,
		reset: () => store.reset(),
	};
}
