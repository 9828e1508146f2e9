#!/usr/bin/env node
// `npm run start:queue`: the package in n8n queue mode on one machine — a throw-away Redis and
// PostgreSQL, one `n8n start` main (EXECUTIONS_MODE=queue) and N `n8n worker` processes that share
// the user folder (community install, N8N_ENCRYPTION_KEY), the LLM sandbox, the examples and
// credentials for the sandbox, Redis (shared limits) and PostgreSQL (shared ledger).
//
// Options: --workers=3, --port=5678, --no-build. Ctrl-C stops everything and deletes the databases.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

import { ensureN8n } from './ensure-n8n.mjs';
import {
	OWNER,
	exampleFiles,
	importCredentials,
	importWorkflowDir,
	installPackage,
	login,
	packPackage,
	publishWorkflow,
	sandboxCredentials,
	startSandbox,
	waitForWebhook,
} from './lib.mjs';
import { N8N_VERSION, REPO_ROOT, pathWithNode24 } from './paths.mjs';
import { startQueueTopology } from './queue.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) =>
	args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const started = Date.now();
const say = (message) =>
	process.stdout.write(`[start:queue ${Math.round((Date.now() - started) / 1000)}s] ${message}\n`);

function runInherited(command, commandArgs) {
	return new Promise((resolve, reject) => {
		const child = spawn(command, commandArgs, {
			cwd: REPO_ROOT,
			env: { ...process.env, PATH: pathWithNode24() },
			stdio: 'inherit',
		});
		child.on('error', reject);
		child.on('close', (code) =>
			code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`)),
		);
	});
}

async function main() {
	const workers = Number(option('workers', '3'));
	const port = Number(option('port', process.env.N8N_PORT ?? '5678'));
	await ensureN8n();
	if (!args.includes('--no-build')) {
		say('building the package (npm run build)');
		await runInherited('npm', ['run', 'build', '--silent']);
	}
	const cacheDir = path.join(REPO_ROOT, '.n8n-cache');
	const userFolder = path.join(cacheDir, 'queue-user');
	rmSync(userFolder, { recursive: true, force: true });
	mkdirSync(userFolder, { recursive: true });
	say('packing and installing the package like a community install');
	await installPackage(userFolder, await packPackage(path.join(cacheDir, 'pack')));
	const sandbox = await startSandbox(['--port', '0']);
	say(`sandbox on ${sandbox.url}`);

	let topo;
	let stopping = false;
	const stopAll = async (code) => {
		if (stopping) return;
		stopping = true;
		say('stopping the workers, main, PostgreSQL, Redis and the sandbox…');
		await topo?.stop();
		await sandbox.stop();
		process.exit(code);
	};
	process.on('SIGINT', () => void stopAll(0));
	process.on('SIGTERM', () => void stopAll(0));

	const webhooks = [];
	try {
		say(`starting Redis, PostgreSQL, n8n main on :${port} and ${workers} workers (~1 min)`);
		topo = await startQueueTopology(userFolder, {
			workers,
			port,
			onLine: (proc, line) => process.stdout.write(`  ${proc} | ${line}\n`),
			prepare: async (env, { redis, pg }) => {
				await importCredentials(userFolder, sandboxCredentials(sandbox.url, { redis, pg }), {
					env,
				});
				await importWorkflowDir(userFolder, path.join(REPO_ROOT, 'examples'), { env });
				for (const file of exampleFiles()) {
					const workflow = JSON.parse(readFileSync(file, 'utf8'));
					const hook = workflow.nodes?.find((n) => n.type === 'n8n-nodes-base.webhook');
					if (hook) {
						await publishWorkflow(userFolder, workflow.id, { env });
						webhooks.push({ name: workflow.name, path: String(hook.parameters?.path ?? '') });
					}
				}
			},
		});
		await login(topo.main.baseUrl);
		for (const hook of webhooks) await waitForWebhook(topo.main.baseUrl, hook.path);
		process.stdout.write(
			[
				'',
				'  ┌──────────────────────────────────────────────────────────────',
				`  │ n8n ${N8N_VERSION} in queue mode: ${topo.main.baseUrl}  (main: editor, webhooks)`,
				`  │ login:    ${OWNER.email}`,
				`  │ password: ${OWNER.password}`,
				...topo.workers.map(
					(w) =>
						`  │ ${w.name}: pid ${w.process.pid}, health http://127.0.0.1:${w.healthPort}/healthz`,
				),
				`  │ Redis (queue + shared limits): 127.0.0.1:${topo.redis.port}`,
				`  │ PostgreSQL (n8n + ledger): postgres@127.0.0.1:${topo.pg.port}/postgres`,
				`  │ LLM sandbox (no key, no spend): ${sandbox.url}`,
				...webhooks.map(
					(w) => `  │ webhook: POST ${topo.main.baseUrl}/webhook/${w.path}   (${w.name})`,
				),
				'  │ In LLM Batch Call set Share Limits Through = Redis (credential "Local Redis")',
				'  │ and Ledger = PostgreSQL (credential "Local PostgreSQL") to share them across workers.',
				`  │ ready in ${Math.round((Date.now() - started) / 1000)} s — Ctrl-C stops everything (databases are deleted)`,
				'  └──────────────────────────────────────────────────────────────',
				'',
			].join('\n'),
		);
	} catch (error) {
		say(`failed: ${error.message}`);
		await stopAll(1);
	}
}

main().catch((error) => {
	process.stderr.write(`[start:queue] ${error.message}\n`);
	process.exit(1);
});
