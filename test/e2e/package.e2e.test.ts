// What `npm pack` ships: only the built nodes, credentials and core, their icons, README and
// package.json. No tests, sandbox, bench, scripts, TypeScript sources or examples.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');

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

describe('npm pack', () => {
	const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
		n8n: { nodes: string[]; credentials: string[] };
	};

	let files: string[] = [];

	beforeAll(() => {
		if (!existsSync(path.join(root, 'dist')))
			throw new Error('dist/ missing: run `npm run build` before the e2e tests');
		files = packedFiles();
	});

	it('ships only dist (nodes, credentials, core), icons, README and package.json', () => {
		const allowed =
			/^(package\.json|README\.md|LICENSE(\.md)?|dist\/(nodes|credentials|core)\/.+\.(js|js\.map|svg|png|json))$/;
		expect(files.filter((f) => !allowed.test(f))).toEqual([]);
		expect(
			files.filter((f) => /(^|\/)(test|tests|sandbox|bench|scripts|examples|__tests__)\//.test(f)),
		).toEqual([]);
		expect(files.filter((f) => /\.ts$/.test(f))).toEqual([]);
		expect(files).toContain('package.json');
		expect(files).toContain('README.md');
	});

	it('contains every node and credential the n8n field declares, and an icon for the nodes', () => {
		for (const entry of [...pkg.n8n.nodes, ...pkg.n8n.credentials])
			expect(files, entry).toContain(entry);
		expect(pkg.n8n.nodes.length).toBeGreaterThan(0);
		expect(files.filter((f) => /\.(svg|png)$/.test(f)).length).toBeGreaterThan(0);
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
