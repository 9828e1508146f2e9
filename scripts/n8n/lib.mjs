// Building blocks shared by `npm start` (start.mjs) and the e2e tests (test/e2e/):
// pack + community-install the package, start the sandbox, import workflows/credentials,
// run `n8n execute`, start `n8n start`, set up the owner. Every spawned process has a timeout.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

import {
	PACKAGE_NAME,
	REPO_ROOT,
	n8nBin,
	n8nEnv,
	n8nInstallDir,
	node24,
	pathWithNode24,
} from './paths.mjs';
import { isN8nInstalled } from './ensure-n8n.mjs';

export const OWNER = Object.freeze({
	email: 'owner@example.com',
	password: 'LlmBatch-Sandbox-1',
	firstName: 'Sandbox',
	lastName: 'Owner',
});

/** Credential ids the example workflows reference (examples/*.json). */
export const CREDENTIAL_IDS = Object.freeze({
	openAi: 'llmSandbox',
	anthropic: 'llmSandboxAnthropic',
	gemini: 'llmSandboxGemini',
	// example 05 (queue mode); real addresses come from `npm run start:queue`
	redis: 'llmBatchQueueRedis',
	postgres: 'llmBatchQueuePostgres',
});

function tailLines(text, n = 30) {
	return text.trim().split('\n').slice(-n).join('\n');
}

/**
 * Runs a command to completion with a hard timeout; rejects with the command, exit code and the
 * tail of its output. `allowFailure` resolves with the result instead of rejecting on exit != 0.
 */
export function runCommand(
	command,
	args,
	{
		cwd = REPO_ROOT,
		env = process.env,
		timeoutMs = 120_000,
		label,
		allowFailure = false,
		input,
	} = {},
) {
	const name = label ?? `${path.basename(command)} ${args.slice(0, 3).join(' ')}`;
	return new Promise((resolve, reject) => {
		const started = Date.now();
		const child = spawn(command, args, {
			cwd,
			env,
			stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
		});
		let stdout = '';
		let stderr = '';
		let timedOut = false;
		child.stdout.on('data', (c) => (stdout += c));
		child.stderr.on('data', (c) => (stderr += c));
		if (input !== undefined) child.stdin.end(input);
		const timer = setTimeout(() => {
			timedOut = true;
			child.kill('SIGKILL');
		}, timeoutMs);
		child.on('error', (error) => {
			clearTimeout(timer);
			reject(new Error(`${name}: could not start ${command}: ${error.message}`));
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			const ms = Date.now() - started;
			const result = { code, signal, stdout, stderr, ms };
			if (timedOut) {
				reject(
					new Error(
						`${name}: timed out after ${Math.round(timeoutMs / 1000)}s and was killed.\n--- stdout ---\n${tailLines(stdout)}\n--- stderr ---\n${tailLines(stderr)}`,
					),
				);
			} else if (code !== 0 && !allowFailure) {
				reject(
					new Error(
						`${name}: exit ${code ?? signal} after ${ms} ms.\n--- stdout ---\n${tailLines(stdout)}\n--- stderr ---\n${tailLines(stderr)}`,
					),
				);
			} else {
				resolve(result);
			}
		});
	});
}

/** Throws a clear, actionable error when the cached n8n is missing (never tries to install it). */
export function assertN8nInstalled() {
	if (!isN8nInstalled()) {
		throw new Error(
			`n8n is not installed (or not verified) in ${n8nInstallDir()}.\n` +
				`Run: PATH=$PWD/node_modules/.bin:$PATH node scripts/n8n/ensure-n8n.mjs   (cold install ~7 minutes)`,
		);
	}
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

const npmEnv = () => {
	const env = { ...process.env, PATH: pathWithNode24(), npm_config_yes: 'true' };
	delete env.NODE_ENV;
	for (const key of Object.keys(env))
		if (/^npm_(config_(prefix|global|local_prefix|dry_run|json)|package_)/i.test(key))
			delete env[key];
	return env;
};

/** `npm pack` of the built repo into `destDir`; returns the tarball path. Needs `npm run build` first. */
export async function packPackage(destDir) {
	if (!existsSync(path.join(REPO_ROOT, 'dist')))
		throw new Error('dist/ is missing: run `npm run build` first');
	mkdirSync(destDir, { recursive: true });
	const { stdout } = await runCommand('npm', ['pack', '--json', '--pack-destination', destDir], {
		env: npmEnv(),
		timeoutMs: 120_000,
		label: 'npm pack',
	});
	const [info] = JSON.parse(stdout.slice(stdout.indexOf('[')));
	return path.join(destDir, info.filename);
}

/**
 * Installs the tarball exactly the way n8n 2.41.1's Community Nodes install does
 * (`CommunityPackagesService.downloadPackage` in modules/community-packages): unpack the package into
 * `<userFolder>/.n8n/nodes/node_modules/<name>`, drop its dev/peer/optional dependencies from its
 * package.json, `npm install` its production dependencies inside that folder (shallow, no scripts,
 * no lockfile), and record it in `.n8n/nodes/package.json`. n8n loads it from there at boot.
 */
export async function installPackage(userFolder, tarball) {
	const nodesDir = path.join(userFolder, '.n8n', 'nodes');
	const packageDir = path.join(nodesDir, 'node_modules', PACKAGE_NAME);
	rmSync(packageDir, { recursive: true, force: true });
	mkdirSync(packageDir, { recursive: true });
	await runCommand('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1'], {
		label: 'unpack package tarball',
		timeoutMs: 60_000,
	});
	const manifestPath = path.join(packageDir, 'package.json');
	// eslint-disable-next-line @typescript-eslint/no-unused-vars
	const { devDependencies, peerDependencies, optionalDependencies, ...manifest } = JSON.parse(
		readFileSync(manifestPath, 'utf8'),
	);
	writeFileSync(manifestPath, JSON.stringify(manifest, null, 2), 'utf8');
	await runCommand(
		'npm',
		[
			'install',
			'--audit=false',
			'--fund=false',
			'--bin-links=false',
			'--install-strategy=shallow',
			'--ignore-scripts=true',
			'--package-lock=false',
		],
		{
			cwd: packageDir,
			env: npmEnv(),
			timeoutMs: 300_000,
			label: 'npm install (package dependencies)',
		},
	);
	// Every file the n8n field names must have been packed (a build running meanwhile can empty dist/).
	const missing = [...(manifest.n8n?.nodes ?? []), ...(manifest.n8n?.credentials ?? [])].filter(
		(f) => !existsSync(path.join(packageDir, f)),
	);
	if (missing.length > 0)
		throw new Error(
			`the packed package lacks ${missing.join(', ')} (was dist/ rebuilt while packing? run npm run build and retry)`,
		);
	const nodesManifestPath = path.join(nodesDir, 'package.json');
	const nodesManifest = existsSync(nodesManifestPath)
		? JSON.parse(readFileSync(nodesManifestPath, 'utf8'))
		: { name: 'installed-nodes', private: true, dependencies: {} };
	nodesManifest.dependencies = { ...nodesManifest.dependencies, [PACKAGE_NAME]: manifest.version };
	writeFileSync(nodesManifestPath, JSON.stringify(nodesManifest, null, 2), 'utf8');
	return packageDir;
}

/**
 * Environment that makes n8n create (and keep) the owner account at boot — n8n >= 2.17's
 * `N8N_INSTANCE_OWNER_MANAGED_BY_ENV` (instance-settings-loader/loaders/owner.instance-settings-loader).
 * It wants a bcrypt hash; bcryptjs comes with n8n's own install.
 */
export function ownerEnv(owner = OWNER) {
	const requireFromN8n = createRequire(
		path.join(n8nInstallDir(), 'node_modules', 'n8n', 'package.json'),
	);
	const bcrypt = requireFromN8n('bcryptjs');
	return {
		N8N_INSTANCE_OWNER_MANAGED_BY_ENV: 'true',
		N8N_INSTANCE_OWNER_EMAIL: owner.email,
		N8N_INSTANCE_OWNER_FIRST_NAME: owner.firstName,
		N8N_INSTANCE_OWNER_LAST_NAME: owner.lastName,
		N8N_INSTANCE_OWNER_PASSWORD_HASH: bcrypt.hashSync(owner.password, 10),
	};
}

/** Logs in through the REST API; returns the session cookie (`n8n-auth=…`). Proves the owner exists. */
export async function login(baseUrl, owner = OWNER) {
	const res = await fetch(`${baseUrl}/rest/login`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ emailOrLdapLoginId: owner.email, password: owner.password }),
		signal: AbortSignal.timeout(30_000),
	});
	if (!res.ok)
		throw new Error(
			`login as ${owner.email} failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`,
		);
	const cookie = (res.headers.getSetCookie?.() ?? [])
		.map((c) => c.split(';')[0])
		.find((c) => c.startsWith('n8n-auth='));
	if (!cookie) throw new Error('login answered 200 without an n8n-auth cookie');
	return cookie;
}

/** A stable encryption key per user folder (n8n refuses to decrypt credentials with another key). */
export function encryptionKeyFor(userFolder) {
	const file = path.join(userFolder, '.llm-batch-encryption-key');
	if (!existsSync(file)) {
		mkdirSync(userFolder, { recursive: true });
		writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
	}
	return readFileSync(file, 'utf8').trim();
}

/**
 * Starts the package's sandbox server (`node build/sandbox/cli.js …args`) and resolves once it prints
 * `LLM sandbox listening on http://127.0.0.1:PORT`.
 */
export function startSandbox(args = [], { timeoutMs = 30_000, onLine } = {}) {
	const cli = path.join(REPO_ROOT, 'build', 'sandbox', 'cli.js');
	if (!existsSync(cli))
		return Promise.reject(new Error(`${cli} is missing: run \`npm run build\` first`));
	return new Promise((resolve, reject) => {
		const env = { ...process.env };
		delete env.NODE_ENV;
		const child = spawn(node24(), [cli, ...args], {
			cwd: REPO_ROOT,
			env,
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let output = '';
		let done = false;
		const timer = setTimeout(() => {
			if (done) return;
			done = true;
			child.kill('SIGKILL');
			reject(
				new Error(
					`sandbox did not report its address within ${timeoutMs / 1000}s:\n${tailLines(output)}`,
				),
			);
		}, timeoutMs);
		const onData = (chunk) => {
			output += chunk;
			for (const line of chunk.toString().split('\n')) if (line.trim() && onLine) onLine(line);
			const match = output.match(/LLM sandbox listening on (http:\/\/[^\s]+?):(\d+)/);
			if (match && !done) {
				done = true;
				clearTimeout(timer);
				const url = `${match[1]}:${match[2]}`;
				const control = async (method, route, body) => {
					const res = await fetch(`${url}${route}`, {
						method,
						headers: body === undefined ? {} : { 'content-type': 'application/json' },
						body: body === undefined ? undefined : JSON.stringify(body),
						signal: AbortSignal.timeout(10_000),
					});
					if (!res.ok)
						throw new Error(`sandbox ${method} ${route}: HTTP ${res.status} ${await res.text()}`);
					return res.json();
				};
				resolve({
					url,
					port: Number(match[2]),
					process: child,
					output: () => output,
					stop: () => stopProcess(child),
					/** POST /sandbox/config: change faults, latency, limits of the running sandbox. */
					configure: (options) => control('POST', '/sandbox/config', options),
					/** POST /sandbox/reset: zero the counters. */
					reset: () => control('POST', '/sandbox/reset', {}),
					/** GET /sandbox/stats: requests, faults, paid successes, max in flight… */
					stats: () => control('GET', '/sandbox/stats'),
				});
			}
		};
		child.stdout.on('data', onData);
		child.stderr.on('data', onData);
		child.on('exit', (code) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			reject(new Error(`sandbox exited with ${code} before listening:\n${tailLines(output)}`));
		});
	});
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export function stopProcess(child, graceMs = 10_000) {
	return new Promise((resolve) => {
		if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
		const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
		child.once('exit', () => {
			clearTimeout(timer);
			resolve();
		});
		child.kill('SIGTERM');
	});
}

/** The LLM Batch: PostgreSQL credential's data for a local, throw-away cluster (no TLS). */
export function postgresCredentialData(pg) {
	return {
		host: pg.host,
		port: pg.port,
		database: pg.database,
		user: pg.user,
		password: pg.password,
		ssl: 'disable',
	};
}

/** The two sandbox credentials in `n8n import:credentials` format. */
export function sandboxCredentials(
	sandboxUrl,
	{
		redis = { host: 'localhost', port: 6379 },
		pg = { host: 'localhost', port: 5432, user: 'postgres', password: '', database: 'postgres' },
	} = {},
) {
	const now = new Date().toISOString();
	return [
		{
			id: CREDENTIAL_IDS.openAi,
			name: 'LLM Sandbox (OpenAI-compatible)',
			type: 'llmBatchOpenAiApi',
			data: { apiKey: 'sandbox', baseUrl: `${sandboxUrl}/v1` },
		},
		{
			id: CREDENTIAL_IDS.anthropic,
			name: 'LLM Sandbox (Anthropic)',
			type: 'llmBatchAnthropicApi',
			data: { apiKey: 'sandbox', baseUrl: sandboxUrl },
		},
		{
			id: CREDENTIAL_IDS.gemini,
			name: 'LLM Sandbox (Google Gemini)',
			type: 'llmBatchGeminiApi',
			data: { apiKey: 'sandbox', baseUrl: sandboxUrl },
		},
		// Example 05 shares limits through Redis and keeps its ledger on PostgreSQL:
		// `npm run start:queue` passes its own servers; elsewhere these are placeholders.
		{
			id: CREDENTIAL_IDS.redis,
			name: 'Local Redis (shared limits)',
			type: 'llmBatchRedisApi',
			data: { host: redis.host, port: redis.port, password: '', database: 1, tls: false },
		},
		{
			id: CREDENTIAL_IDS.postgres,
			name: 'Local PostgreSQL (shared ledger)',
			type: 'llmBatchPostgresApi',
			data: postgresCredentialData(pg),
		},
	].map((c) => ({ ...c, createdAt: now, updatedAt: now }));
}

/** The example workflow files (examples/*.json), sorted by name. */
export function exampleFiles() {
	const dir = path.join(REPO_ROOT, 'examples');
	if (!existsSync(dir)) return [];
	return readdirSync(dir)
		.filter((f) => f.endsWith('.json'))
		.sort()
		.map((f) => path.join(dir, f));
}

/** Runs an n8n CLI command (`n8n <args>`) with the user folder's environment. */
export function n8nCli(
	userFolder,
	args,
	{ env = {}, timeoutMs = 120_000, allowFailure = false } = {},
) {
	return runCommand(node24(), [n8nBin(), ...args], {
		cwd: userFolder,
		env: n8nEnv(userFolder, { N8N_ENCRYPTION_KEY: encryptionKeyFor(userFolder), ...env }),
		timeoutMs,
		allowFailure,
		label: `n8n ${args.join(' ')}`,
	});
}

export async function importCredentials(userFolder, credentials, opts = {}) {
	const file = path.join(userFolder, 'llm-batch-credentials.json');
	writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
	return n8nCli(userFolder, ['import:credentials', `--input=${file}`], opts);
}

/** Imports one workflow file (keeps its id). */
export async function importWorkflow(userFolder, file, opts = {}) {
	return n8nCli(userFolder, ['import:workflow', `--input=${file}`], opts);
}

/** Imports every workflow JSON in a folder with one CLI boot (`--separate`), ~10 s saved per file. */
export async function importWorkflowDir(userFolder, dir, opts = {}) {
	return n8nCli(userFolder, ['import:workflow', '--separate', `--input=${dir}`], opts);
}

/**
 * Activates a workflow for the next `n8n start`. In 2.41.1 activation is "publishing" a version:
 * `import:workflow --activeState=fromJson` is refused outside queue mode, and
 * `update:workflow --active=true` only forwards to the same publishVersion.
 */
export async function publishWorkflow(userFolder, id, opts = {}) {
	return n8nCli(userFolder, ['publish:workflow', `--id=${id}`], opts);
}

/**
 * `n8n execute --id <id> --rawOutput`; parses the run (IRun JSON) from the first stdout line that is
 * exactly `{` (other log lines come first). Rejects when there is no JSON; a failed execution still
 * resolves with `exitCode` 1 and the run data, so tests can assert on it.
 */
export async function executeWorkflow(userFolder, id, { env = {}, timeoutMs = 300_000 } = {}) {
	const brokerPort = await freePort();
	const result = await n8nCli(userFolder, ['execute', `--id=${id}`, '--rawOutput'], {
		env: {
			// Own task-broker port: `n8n execute` starts one too, and must not clash with a running n8n.
			N8N_RUNNERS_BROKER_PORT: String(brokerPort),
			// n8n 2.41.1's default `vm` engine (isolated-vm) makes `n8n execute` die with SIGSEGV while
			// exiting on Node 24.21 (after printing a complete, correct run) and costs ~10 s per call.
			// The CLI runs use the `legacy` engine; `n8n start` (webhook and editor tests) keeps `vm`.
			N8N_EXPRESSION_ENGINE: 'legacy',
			...env,
		},
		timeoutMs,
		allowFailure: true,
	});
	const loadError = result.stdout.match(
		new RegExp(`Failed to load package "${PACKAGE_NAME}"\\s*\\n([^\\n]*)`),
	);
	if (loadError)
		throw new Error(`n8n execute --id=${id}: n8n could not load ${PACKAGE_NAME}: ${loadError[1]}`);
	const lines = result.stdout.split('\n');
	const start = lines.findIndex((l) => l === '{');
	if (start < 0) {
		throw new Error(
			`n8n execute --id=${id} printed no run JSON (exit ${result.code}).\n--- stdout ---\n${tailLines(result.stdout)}\n--- stderr ---\n${tailLines(result.stderr)}`,
		);
	}
	// The JSON is pretty-printed and ends at the first line that is exactly `}`.
	const end = lines.findIndex((l, i) => i > start && l === '}');
	const run = JSON.parse(lines.slice(start, end + 1).join('\n'));
	return {
		run,
		exitCode: result.code,
		signal: result.signal,
		ms: result.ms,
		stdout: result.stdout,
		stderr: result.stderr,
	};
}

/**
 * Waits until `url` answers 200 (n8n's /healthz), or the process exits, or the timeout passes,
 * or `signal` aborts.
 */
export async function waitForHttp(
	url,
	{ timeoutMs = 120_000, child, output = () => '', signal } = {},
) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		signal?.throwIfAborted();
		if (child && child.exitCode !== null)
			throw new Error(
				`process exited with ${child.exitCode} before ${url} answered:\n${tailLines(output())}`,
			);
		try {
			const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
			if (res.ok) return;
		} catch {
			// not up yet
		}
		if (Date.now() > deadline)
			throw new Error(`${url} did not answer within ${timeoutMs / 1000}s:\n${tailLines(output())}`);
		await new Promise((r) => setTimeout(r, 500));
	}
}

/**
 * Waits until a published workflow's production webhook is registered. n8n 2.41.1 activates
 * published workflows in the background (workflow publication service) after the editor is up,
 * so a request right after start can get 404.
 *
 * The probe is a CORS preflight with an Origin and no Access-Control-Request-Method: n8n then
 * answers 204 with Access-Control-Allow-Methods read from its webhook table, and logs nothing.
 * Naming the method (or sending the request itself) makes n8n look the webhook up and log a
 * `ResponseError: The requested webhook "POST …" is not registered` stack trace for every probe
 * that comes too early.
 */
export async function waitForWebhook(
	baseUrl,
	webhookPath,
	{ method = 'POST', timeoutMs = 90_000 } = {},
) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		try {
			const res = await fetch(`${baseUrl}/webhook/${webhookPath}`, {
				method: 'OPTIONS',
				headers: { origin: baseUrl },
				signal: AbortSignal.timeout(5_000),
			});
			const allowed = res.headers.get('access-control-allow-methods') ?? '';
			if (allowed.split(/,\s*/).includes(method)) return;
		} catch {
			// not up yet
		}
		if (Date.now() > deadline)
			throw new Error(
				`webhook ${method} /webhook/${webhookPath} was not registered within ${timeoutMs / 1000}s (is the workflow published?)`,
			);
		await new Promise((r) => setTimeout(r, 500));
	}
}

/** Waits until a process's collected output matches `pattern` (or `signal` aborts). */
export async function waitForOutput(pattern, { timeoutMs = 120_000, child, output, signal }) {
	const deadline = Date.now() + timeoutMs;
	while (!pattern.test(output())) {
		signal?.throwIfAborted();
		if (child && child.exitCode !== null)
			throw new Error(
				`process exited with ${child.exitCode} before printing ${pattern}:\n${tailLines(output())}`,
			);
		if (Date.now() > deadline)
			throw new Error(
				`no ${pattern} in the output within ${timeoutMs / 1000}s:\n${tailLines(output())}`,
			);
		await new Promise((r) => setTimeout(r, 250));
	}
}

/**
 * Starts `n8n start` and resolves when /healthz/readiness answers. `onLine` receives its output
 * lines. When `signal` aborts before that, n8n is stopped and the promise rejects once it is gone.
 */
export async function startN8n(
	userFolder,
	{ port = 5678, env = {}, timeoutMs = 180_000, onLine, signal } = {},
) {
	const brokerPort = env.N8N_RUNNERS_BROKER_PORT ?? String(await freePort());
	const childEnv = n8nEnv(userFolder, {
		N8N_ENCRYPTION_KEY: encryptionKeyFor(userFolder),
		N8N_PORT: String(port),
		N8N_LISTEN_ADDRESS: '127.0.0.1',
		N8N_HOST: 'localhost',
		N8N_EDITOR_BASE_URL: `http://localhost:${port}`,
		N8N_RUNNERS_BROKER_PORT: brokerPort,
		...ownerEnv(),
		...env,
	});
	const child = spawn(node24(), [n8nBin(), 'start'], {
		cwd: userFolder,
		env: childEnv,
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let output = '';
	const onData = (chunk) => {
		output += chunk;
		if (output.length > 2_000_000) output = output.slice(-1_000_000);
		if (onLine) for (const line of chunk.toString().split('\n')) if (line.trim()) onLine(line);
	};
	child.stdout.on('data', onData);
	child.stderr.on('data', onData);
	const baseUrl = `http://localhost:${port}`;
	try {
		const waiting = { timeoutMs, child, output: () => output, signal };
		await waitForHttp(`${baseUrl}/healthz/readiness`, waiting);
		// Readiness answers before the published workflows are activated (webhooks registered);
		// `n8n start` prints this line right after ActiveWorkflowManager.init().
		await waitForOutput(/Editor is now accessible via/, waiting);
		// n8n keeps running when a community package fails to load; that is a failure here.
		const loadError = output.match(
			new RegExp(`Failed to load package "${PACKAGE_NAME}"\\s*\\n([^\\n]*)`),
		);
		if (loadError) throw new Error(`n8n could not load ${PACKAGE_NAME}: ${loadError[1]}`);
	} catch (error) {
		await stopProcess(child);
		throw error;
	}
	return {
		baseUrl,
		port,
		process: child,
		output: () => output,
		stop: () => stopProcess(child, 20_000),
	};
}
