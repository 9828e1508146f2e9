// A "status instance" beside a queue-mode topology: a small n8n in regular mode whose webhooks
// run in its own process — no Redis queue, no worker — reading the job's ledger on the queue
// topology's PostgreSQL. Its own user folder and n8n database (SQLite), its own N8N_PORT and task
// runner broker port, the package installed from the same tarball, and only the credentials and
// workflows it is given (the status page's).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
	freePort,
	importCredentials,
	importWorkflow,
	installPackage,
	publishWorkflow,
	startN8n,
	waitForWebhook,
} from './lib.mjs';

/**
 * Starts it. `credentials` in `n8n import:credentials` format, `workflows` n8n workflow objects
 * (published), `hooks` the webhooks to wait for (`{ path, method }`). Resolves with `baseUrl`,
 * the path of its SQLite database (n8n's execution rows, for where a poll's time goes) and
 * `stop()`, which also deletes its user folder. `nice` (e.g. -10, needs root) raises its CPU
 * priority: on a machine that also runs the job's workers it stands in for the CPU of its own a
 * status instance has in production (another host or container).
 */
export async function startStatusInstance({
	tarball,
	credentials,
	workflows,
	hooks = [],
	env = {},
	nice,
}) {
	const userFolder = mkdtempSync(path.join(os.tmpdir(), 'llm-batch-status-instance-'));
	let n8n;
	const stop = async () => {
		await n8n?.stop();
		rmSync(userFolder, { recursive: true, force: true });
	};
	try {
		await installPackage(userFolder, tarball);
		// Regular mode whatever the caller's environment says: the point is not to queue.
		const own = { EXECUTIONS_MODE: 'regular', ...env };
		await importCredentials(userFolder, credentials, { env: own });
		for (const wf of workflows) {
			const file = path.join(userFolder, `${wf.id}.json`);
			writeFileSync(file, JSON.stringify(wf));
			await importWorkflow(userFolder, file, { env: own });
			await publishWorkflow(userFolder, wf.id, { env: own });
		}
		n8n = await startN8n(userFolder, {
			port: await freePort(),
			env: { ...own, N8N_RUNNERS_BROKER_PORT: String(await freePort()) },
		});
		if (nice !== undefined) reniceThreads(n8n.process.pid, nice);
		for (const h of hooks) await waitForWebhook(n8n.baseUrl, h.path, { method: h.method ?? 'GET' });
		return {
			baseUrl: n8n.baseUrl,
			process: n8n.process,
			database: path.join(userFolder, '.n8n', 'database.sqlite'),
			stop,
		};
	} catch (error) {
		await stop();
		throw error;
	}
}

/** Linux's nice is per thread: every thread of the process (V8's and libuv's too). */
function reniceThreads(pid, nice) {
	const tids = readdirSync(`/proc/${pid}/task`);
	execFileSync('renice', ['-n', String(nice), '-p', ...tids], { stdio: 'ignore' });
}
