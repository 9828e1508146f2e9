// Shared locations and environment for running the real n8n CLI against this package.
// Plain ESM (not compiled by tsc) so `npm start`, `.ci/run` and the e2e tests can use it
// before or without a build.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const N8N_VERSION = '2.41.1';
export const PACKAGE_NAME = 'n8n-nodes-llm-batch';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Root of everything cached outside the repo (n8n install, Node headers). */
export function cacheRoot() {
	if (process.env.LLM_BATCH_N8N_CACHE) return path.resolve(process.env.LLM_BATCH_N8N_CACHE);
	const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
	return path.join(base, PACKAGE_NAME);
}

export function n8nInstallDir() {
	return path.join(cacheRoot(), `n8n-${N8N_VERSION}`);
}

export function n8nMarkerFile() {
	return path.join(n8nInstallDir(), '.install-complete.json');
}

/** The n8n CLI entry (run it with the Node 24 binary, never through a shebang). */
export function n8nBin() {
	return path.join(n8nInstallDir(), 'node_modules', 'n8n', 'bin', 'n8n');
}

/** Node 24: the binary running this script, when it is 24+; else the repo's node_modules copy. */
export function node24() {
	const major = Number(process.versions.node.split('.')[0]);
	if (major >= 24) return process.execPath;
	const local = path.join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node');
	if (existsSync(local)) return local;
	throw new Error(
		`n8n ${N8N_VERSION} needs Node >= 24 and none was found (running ${process.version}; ` +
			`expected ${local} from the "node" devDependency — run npm install).`,
	);
}

/** PATH with Node 24 first, so npm, node-gyp and any `#!/usr/bin/env node` child use it. */
export function pathWithNode24(basePath = process.env.PATH ?? '') {
	return [path.dirname(node24()), path.join(REPO_ROOT, 'node_modules', '.bin'), basePath].join(
		path.delimiter,
	);
}

/**
 * n8n's calls to its online services, turned off. On a machine without internet each of them
 * logs an error (at boot the MCP server registry refresh prints a `getaddrinfo ENOTFOUND
 * api.n8n.io` stack trace), and a local run has no use for any of them. The names are n8n
 * 2.41.1's (@n8n/config, modules/community-packages, @n8n/backend-common's module list).
 */
export const OFFLINE_ENV = Object.freeze({
	N8N_DIAGNOSTICS_ENABLED: 'false',
	N8N_DIAGNOSTICS_CONFIG_FRONTEND: '',
	N8N_DIAGNOSTICS_CONFIG_BACKEND: '',
	N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
	N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED: 'false',
	N8N_TEMPLATES_ENABLED: 'false',
	N8N_PERSONALIZATION_ENABLED: 'false',
	N8N_HIRING_BANNER_ENABLED: 'false',
	N8N_DYNAMIC_BANNERS_ENABLED: 'false',
	EXTERNAL_FRONTEND_HOOKS_URLS: '',
	// the list of n8n-verified community nodes, fetched from api.n8n.io for the nodes panel
	N8N_VERIFIED_PACKAGES_ENABLED: 'false',
	N8N_AI_ENABLED: 'false',
	// the MCP server registry, refreshed from api.n8n.io at boot and every 8 hours
	N8N_DISABLED_MODULES: 'mcp-registry',
});

/**
 * Defaults n8n 2.41.1 announces it will change, set to today's value so its boot log does not
 * list them as deprecations (the behaviour stays what it is).
 */
const CURRENT_DEFAULTS = Object.freeze({
	N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
	N8N_RUNNERS_TASK_TIMEOUT: '300',
	N8N_COMPRESSION_NODE_MAX_DECOMPRESSED_SIZE_BYTES: String(2 * 1024 ** 3),
	N8N_COMPRESSION_NODE_MAX_ZIP_ENTRIES: '5000',
});

/**
 * Environment for a spawned n8n: a fixed user folder, no calls to n8n's online services, never
 * NODE_ENV=test (n8n then prints nothing and exits 0 — see shared research §3.1).
 */
export function n8nEnv(userFolder, extra = {}) {
	const env = { ...process.env };
	delete env.NODE_ENV;
	// vitest / npm leak these; they must not change how n8n behaves.
	for (const key of Object.keys(env)) {
		if (key.startsWith('VITEST') || key === 'TEST') delete env[key];
	}
	return {
		...env,
		PATH: pathWithNode24(env.PATH),
		N8N_USER_FOLDER: userFolder,
		DB_TYPE: 'sqlite',
		...OFFLINE_ENV,
		...CURRENT_DEFAULTS,
		N8N_SECURE_COOKIE: 'false',
		N8N_LOG_LEVEL: 'info',
		...extra,
	};
}
