#!/usr/bin/env node
// `npm start`: the package inside a real n8n, as a user would get it from the Community Nodes screen.
//
//   1. install n8n (cached outside the repo; progress shown)   4. start the LLM sandbox
//   2. build and `npm pack` this package                       5. import sandbox credentials + examples/*.json
//   3. community-install the tarball into a throw-away         6. create the owner account, print the login
//      user folder (.n8n-cache/user/.n8n/nodes)                7. `n8n start` on http://localhost:5678
//
// Ctrl-C stops n8n and the sandbox, then the script exits. The banner ends with a curl for the
// webhook example. Options: --no-build (reuse dist/ and build/), --port=5678, --keep (reuse the
// user folder: your own workflows survive; examples and credentials are re-imported).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { ensureN8n } from './ensure-n8n.mjs';
import {
	OWNER,
	exampleFiles,
	importCredentials,
	importWorkflowDir,
	installPackage,
	packPackage,
	publishWorkflow,
	sandboxCredentials,
	login,
	startN8n,
	startSandbox,
	waitForWebhook,
} from './lib.mjs';
import { N8N_VERSION, REPO_ROOT, pathWithNode24 } from './paths.mjs';
import { WEBHOOK_EXAMPLE_PATH, webhookExampleCurl } from './webhook-example.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) =>
	args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;

const started = Date.now();
const say = (message) =>
	process.stdout.write(`[start ${Math.round((Date.now() - started) / 1000)}s] ${message}\n`);

function portInUse(port) {
	return new Promise((resolve) => {
		const socket = net.connect({ port, host: '127.0.0.1' });
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

function runInherited(command, commandArgs) {
	return new Promise((resolve, reject) => {
		const env = { ...process.env, PATH: pathWithNode24() };
		const child = spawn(command, commandArgs, { cwd: REPO_ROOT, env, stdio: 'inherit' });
		child.on('error', reject);
		child.on('close', (code) =>
			code === 0
				? resolve()
				: reject(new Error(`${command} ${commandArgs.join(' ')} exited with ${code}`)),
		);
	});
}

/** The box printed once n8n is ready, and the webhook example's curl below it (copied as is). */
function banner({ n8n, sandbox, webhooks, userFolder }) {
	const lines = [
		'',
		'  ┌──────────────────────────────────────────────────────────────',
		`  │ n8n ${N8N_VERSION} with n8n-nodes-llm-batch: ${n8n.baseUrl}`,
		`  │ login:    ${OWNER.email}`,
		`  │ password: ${OWNER.password}`,
		`  │ LLM sandbox (no key, no spend): ${sandbox.url}`,
		...webhooks.map((w) => `  │ webhook: POST ${n8n.baseUrl}/webhook/${w.path}   (${w.name})`),
		`  │ user folder (throw-away): ${path.relative(REPO_ROOT, userFolder)}`,
		`  │ ready in ${Math.round((Date.now() - started) / 1000)} s — Ctrl-C stops n8n and the sandbox`,
		'  └──────────────────────────────────────────────────────────────',
		'',
	];
	if (webhooks.some((w) => w.path === WEBHOOK_EXAMPLE_PATH))
		lines.push(
			'  Run the webhook example: two tickets (ticketId, subject, body) in, its Batch Report out (2 successes):',
			'',
			webhookExampleCurl(n8n.baseUrl),
			'',
		);
	return lines.join('\n');
}

async function main() {
	const port = Number(option('port', process.env.N8N_PORT ?? '5678'));
	if (await portInUse(port))
		throw new Error(
			`port ${port} is already in use (another n8n?). Stop it or use npm start -- --port=5679`,
		);

	// Ctrl-C: before anything long-lived runs, exit at once as usual; once the sandbox or n8n
	// runs, stop them (n8n while it boots too) and exit only when they are gone.
	const controller = new AbortController();
	const { signal } = controller;
	const running = [];
	const onSignal = (name) => {
		if (running.length === 0) process.exit(130);
		if (signal.aborted) return;
		say(`${name} received`);
		controller.abort();
	};
	process.on('SIGINT', () => onSignal('SIGINT'));
	process.on('SIGTERM', () => onSignal('SIGTERM'));

	await ensureN8n();

	if (!flag('no-build')) {
		say('building the package (npm run build)');
		await runInherited('npm', ['run', 'build', '--silent']);
	}

	const cacheDir = path.join(REPO_ROOT, '.n8n-cache');
	const userFolder = path.join(cacheDir, 'user');
	if (!flag('keep')) rmSync(userFolder, { recursive: true, force: true });
	mkdirSync(userFolder, { recursive: true });

	say('packing and installing the package like a community install');
	const tarball = await packPackage(path.join(cacheDir, 'pack'));
	const installed = await installPackage(userFolder, tarball);
	say(`installed ${path.basename(tarball)} -> ${path.relative(REPO_ROOT, installed)}`);

	const sandbox = await startSandbox(['--port', '0']);
	running.push(sandbox);
	say(`sandbox on ${sandbox.url}`);

	let exitCode = 0;
	try {
		const webhooks = await importExamples(userFolder, sandbox);
		signal.throwIfAborted();
		say(`starting n8n ${N8N_VERSION} on http://localhost:${port} (~20-40 s)`);
		const n8n = await startN8n(userFolder, {
			port,
			signal,
			onLine: (line) => process.stdout.write(`  n8n | ${line}\n`),
		});
		running.push(n8n);
		await login(n8n.baseUrl);
		for (const hook of webhooks) await waitForWebhook(n8n.baseUrl, hook.path);
		signal.throwIfAborted();
		process.stdout.write(banner({ n8n, sandbox, webhooks, userFolder }));
		exitCode = await new Promise((resolve) => {
			signal.addEventListener('abort', () => resolve(0), { once: true });
			for (const [name, child] of [
				['n8n', n8n.process],
				['sandbox', sandbox.process],
			])
				child.once('exit', (code) => {
					if (signal.aborted) return;
					say(`${name} exited (${code}) on its own`);
					resolve(code || 1);
				});
		});
	} catch (error) {
		if (!signal.aborted) {
			say(`failed: ${error.message}`);
			exitCode = 1;
		}
	}
	say('stopping n8n and the sandbox…');
	await Promise.all(running.map((p) => p.stop()));
	say('stopped');
	process.exit(exitCode);
}

/** Imports the sandbox credentials and examples/*.json; publishes the webhook examples. */
async function importExamples(userFolder, sandbox) {
	await importCredentials(userFolder, sandboxCredentials(sandbox.url));
	say(
		'imported the sandbox credentials (LLM Sandbox (OpenAI-compatible), LLM Sandbox (Anthropic))',
	);
	const examples = exampleFiles();
	if (examples.length === 0) {
		say('no examples/*.json to import yet');
		return [];
	}
	await importWorkflowDir(userFolder, path.join(REPO_ROOT, 'examples'));
	say(`imported ${examples.map((f) => path.relative(REPO_ROOT, f)).join(', ')}`);
	// Publish (activate) the webhook examples so their production URL answers right away.
	const webhooks = [];
	for (const file of examples) {
		const workflow = JSON.parse(readFileSync(file, 'utf8'));
		if (
			workflow.active === true ||
			workflow.nodes?.some((n) => n.type === 'n8n-nodes-base.webhook')
		) {
			await publishWorkflow(userFolder, workflow.id);
			const hook = workflow.nodes.find((n) => n.type === 'n8n-nodes-base.webhook');
			if (hook) webhooks.push({ name: workflow.name, path: String(hook.parameters?.path ?? '') });
		}
	}
	return webhooks;
}

main().catch((error) => {
	process.stderr.write(`[start] ${error.message}\n`);
	process.exit(1);
});
