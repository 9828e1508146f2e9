// What `npm pack` ships and how it installs: the bundled nodes and credentials (dist/, built by
// scripts/bundle.mjs), their icons and codex files, the bundled packages' licences, README and
// package.json; no runtime dependencies, so a community install adds nothing else; and n8n
// loads every node and credential from it.
import { execFileSync, spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freshUserFolder, n8n, printTimings, timed, type RunningN8n } from './harness';
// @ts-expect-error -- untyped .mjs module
import * as paths from '../../scripts/n8n/paths.mjs';

const root = path.resolve(__dirname, '..', '..');
const { node24, n8nInstallDir, PACKAGE_NAME } = paths as {
	node24(): string;
	n8nInstallDir(): string;
	PACKAGE_NAME: string;
};
/** Size on disk of a community install, the package and all it brings (was 112 MB with dependencies). */
const MAX_INSTALL_MB = 15;

interface PackFile {
	path: string;
	size: number;
}

function packedFiles(): string[] {
	const env = { ...process.env };
	for (const key of Object.keys(env)) if (/^npm_config_(dry_run|json)$/i.test(key)) delete env[key];
	const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
		cwd: root,
		env,
		timeout: 120_000,
	}).toString();
	const [info] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ files: PackFile[] }>;
	return info.files.map((f) => f.path).sort();
}

interface Manifest {
	dependencies?: Record<string, string>;
	n8n: { nodes: string[]; credentials: string[] };
}

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;

describe('npm pack', () => {
	let files: string[] = [];

	beforeAll(() => {
		if (!existsSync(path.join(root, 'dist')))
			throw new Error('dist/ missing: run `npm run build` before the e2e tests');
		files = packedFiles();
	});

	it('ships only the bundles (nodes, credentials, their shared lib), icons, codex files, licences, README and package.json', () => {
		const allowed =
			/^(package\.json|README\.md|LICENSE(\.md)?|dist\/THIRD_PARTY_LICENSES\.md|dist\/(nodes|credentials|lib)\/.+\.(js|svg|png|json)|dist\/lib\/chart-assets\/[\w.-]+\.(wasm|ttf))$/;
		expect(files.filter((f) => !allowed.test(f))).toEqual([]);
		expect(
			files.filter((f) => /(^|\/)(test|tests|sandbox|bench|scripts|examples|__tests__)\//.test(f)),
		).toEqual([]);
		expect(files.filter((f) => /\.ts$/.test(f))).toEqual([]);
		expect(files).toContain('package.json');
		expect(files).toContain('README.md');
		expect(files).toContain('dist/THIRD_PARTY_LICENSES.md');
	});

	it('has no runtime dependencies (n8n-workflow is the one peer dependency)', () => {
		expect(pkg.dependencies ?? {}).toEqual({});
	});

	it('contains every node and credential the n8n field declares, and an icon for the nodes', () => {
		for (const entry of [...pkg.n8n.nodes, ...pkg.n8n.credentials])
			expect(files, entry).toContain(entry);
		expect(pkg.n8n.nodes.length).toBeGreaterThan(0);
		expect(files.filter((f) => /\.(svg|png)$/.test(f)).length).toBeGreaterThan(0);
	});
});

/** The packages the nodes use, bundled into dist/ (formerly `dependencies`). */
const BUNDLED = [
	'@anthropic-ai/sdk',
	'@resvg/resvg-wasm',
	'dejavu-fonts-ttf',
	'ajv',
	'ajv-formats',
	'gpt-tokenizer',
	'ioredis',
	'openai',
	'pg',
	'zod',
];

function diskKb(dir: string): number {
	return Number(execFileSync('du', ['-sk', dir]).toString().split('\t')[0]);
}

interface LoadReport {
	atLoad: {
		loadMs: number;
		heapMB: number;
		rssMB: number;
		tokenizer: string[];
		packageFiles: number;
	};
	requested: string[];
	afterCount: {
		ms: number;
		tokenizer: string[];
		error?: string;
		estimate?: { tokenizer: string; items: number; tokens: { inputTotal: number } };
	};
	chart: { error?: string; mimeType?: string; signature?: string; width?: number };
}

describe('community install of the packed tarball', () => {
	let userFolder: string;
	let packageDir: string;
	let tarball: string;
	let cleanup = () => {};

	beforeAll(async () => {
		({ userFolder, tarball, cleanup } = await timed('pack and install (n8n way)', () =>
			freshUserFolder('package'),
		));
		packageDir = path.join(userFolder, '.n8n', 'nodes', 'node_modules', PACKAGE_NAME);
	});

	afterAll(() => {
		cleanup();
		printTimings('package.e2e');
	});

	it(`installs nothing besides the package itself, ${MAX_INSTALL_MB} MB at most on disk`, () => {
		const kb = diskKb(packageDir);
		process.stdout.write(
			`[package.e2e] tarball ${(readFileSync(tarball).length / 1e6).toFixed(2)} MB, installed ${(kb / 1024).toFixed(1)} MB on disk\n`,
		);
		expect(existsSync(path.join(packageDir, 'node_modules'))).toBe(false);
		expect(kb).toBeLessThanOrEqual(MAX_INSTALL_MB * 1024);
	});

	it('ships the licence of every bundled package, with the version bundled', () => {
		const licences = readFileSync(path.join(packageDir, 'dist', 'THIRD_PARTY_LICENSES.md'), 'utf8');
		for (const name of BUNDLED) {
			const { version } = JSON.parse(
				readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8'),
			) as { version: string };
			expect(licences, name).toContain(`\n## ${name} ${version} (`);
		}
	});

	it('loads with nothing but Node and n8n-workflow, and reads the tokenizer only when a count is asked for', () => {
		// NODE_PATH as n8n sets it for community packages: n8n's own node_modules.
		const child = spawnSync(
			node24(),
			[
				'--expose-gc',
				path.join(__dirname, 'fixtures', 'load-package.cjs'),
				packageDir,
				path.join(root, 'build', 'scripts', 'lib', 'harness.js'),
			],
			{
				env: { ...process.env, NODE_PATH: path.join(n8nInstallDir(), 'node_modules') },
				timeout: 120_000,
			},
		);
		expect(child.stderr.toString()).toBe('');
		const report = JSON.parse(child.stdout.toString().trim().split('\n').pop()!) as LoadReport;
		process.stdout.write(`[package.e2e] ${JSON.stringify(report.atLoad)}\n`);
		const allowed = new Set(['n8n-workflow', ...builtinModules]);
		expect(report.requested.filter((m) => !allowed.has(m.replace(/^node:/, '')))).toEqual([]);
		expect(report.atLoad.tokenizer).toEqual([]);
		expect(report.afterCount.error).toBeUndefined();
		expect(report.afterCount.estimate).toMatchObject({ tokenizer: 'o200k_base', items: 2 });
		expect(report.afterCount.estimate!.tokens.inputTotal).toBeGreaterThan(0);
		expect(report.afterCount.tokenizer).toEqual(['dist/lib/gpt-tokenizer/o200k_base.js']);
		expect(report.chart).toEqual({ mimeType: 'image/png', signature: 'PNG', width: 1200 });
	});

	it('n8n loads every node and credential the n8n field declares', async () => {
		const expectedNodes = pkg.n8n.nodes.map((file) => {
			const codex = JSON.parse(
				readFileSync(path.join(packageDir, file.replace(/\.js$/, '.json')), 'utf8'),
			) as { node: string };
			return codex.node;
		});
		const expectedCredentials = await Promise.all(
			pkg.n8n.credentials.map(async (file) => {
				const source = path.join(root, file.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
				const mod = (await import(source)) as Record<string, new () => { name: string }>;
				return new (Object.values(mod)[0])().name;
			}),
		);
		let server: RunningN8n | undefined;
		try {
			server = await timed('n8n start with the package', async () =>
				n8n.startN8n(userFolder, { port: await n8n.freePort() }),
			);
			const cookie = await n8n.login(server.baseUrl);
			const types = async (what: string) => {
				const res = await fetch(`${server!.baseUrl}/types/${what}.json`, { headers: { cookie } });
				expect(res.status).toBe(200);
				return ((await res.json()) as Array<{ name: string }>).map((t) => t.name);
			};
			const nodes = await types('nodes');
			for (const name of expectedNodes) expect(nodes, name).toContain(name);
			const credentials = await types('credentials');
			for (const name of expectedCredentials) expect(credentials, name).toContain(name);
		} finally {
			await server?.stop();
		}
	});
});

describe('examples and the credentials `npm start` imports', () => {
	it('every credential an example references is one of the sandbox credentials (same id, name and type)', async () => {
		// @ts-expect-error -- untyped .mjs module
		const lib = (await import('../../scripts/n8n/lib.mjs')) as {
			exampleFiles(): string[];
			sandboxCredentials(url: string): Array<{ id: string; name: string; type: string }>;
		};
		const provided = lib
			.sandboxCredentials('http://127.0.0.1:1')
			.map(({ id, name, type }) => `${type}:${id}:${name}`);
		const files = lib.exampleFiles();
		expect(files.length).toBeGreaterThanOrEqual(3);
		const referenced = new Set<string>();
		for (const file of files) {
			const workflow = JSON.parse(readFileSync(file, 'utf8')) as {
				nodes: Array<{ credentials?: Record<string, { id: string; name: string }> }>;
			};
			for (const node of workflow.nodes) {
				for (const [type, ref] of Object.entries(node.credentials ?? {}))
					referenced.add(`${type}:${ref.id}:${ref.name}`);
			}
		}
		expect(referenced.size).toBeGreaterThan(0);
		for (const ref of referenced) expect(provided, ref).toContain(ref);
	});
});
