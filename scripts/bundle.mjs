#!/usr/bin/env node
// Builds what `npm pack` ships: dist/, a tree with no runtime dependencies.
//
//   node scripts/bundle.mjs        (the last step of `npm run build`)
//
// n8n's community-node rules forbid `dependencies` (each would be installed into the shared n8n
// runtime) and @n8n/node-cli's own build only runs tsc, so esbuild bundles what the nodes use
// (the OpenAI and Anthropic SDKs, ajv, zod, pg, ioredis) into CommonJS, the format
// n8n's loader `require`s:
//
// - lib/nodes.js: every node class and the core they share, once. The node code keeps state
//   per process that several nodes must share (one rate limiter per API key, one ledger store
//   per database), so the nodes cannot each carry a copy of core: each node's entry file
//   (nodes/<Name>/<Name>.node.js, the path package.json's `n8n.nodes` names) re-exports its
//   class from lib/nodes.js, which Node's module cache loads once.
// - credentials/<Name>.credentials.js: one small bundle each (they import only types).
// - lib/gpt-tokenizer/<encoding>.js: the tokenizer's rank tables (MBs each), separate files
//   that core/tokens.ts requires only when an exact count is asked for, never at node load.
// - lib/chart-assets/: the chart renderer's WebAssembly and font (core/report/charts/assets.json),
//   files read on the first chart only, never at node load.
// - THIRD_PARTY_LICENSES.md: name, version, licence and licence text of every bundled package.
//
// tsc compiles everything to build/ (scripts, sandbox and benches run from there, with
// node_modules); none of it is shipped.
import { build } from 'esbuild';
import {
	copyFileSync,
	existsSync,
	mkdirSync,
	readdirSync,
	readFileSync,
	rmSync,
	statSync,
	writeFileSync,
} from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const requireFromRoot = createRequire(path.join(root, 'package.json'));

const ENTRY_PREFIX = 'dist/';
const TOKENIZER_ENCODINGS = ['o200k_base', 'cl100k_base'];
/** Where lib/nodes.js finds the tokenizer files (relative to itself, resolved at run time). */
const tokenizerPath = (encoding) => `./gpt-tokenizer/${encoding}.js`;

const common = {
	bundle: true,
	platform: 'node',
	format: 'cjs',
	target: 'node22',
	// n8n-workflow is the peer dependency n8n provides; pg-native is pg's optional native
	// driver, required only when a user asks for it (this package never does).
	external: ['n8n-workflow', 'pg-native'],
	// Class and function names stay as written: errors and logs name them, and esbuild would
	// otherwise rename clashing top-level names across modules.
	keepNames: true,
	legalComments: 'none',
	// The tokenizer's rank tables hold many non-ASCII strings: as UTF-8 rather than \u escapes,
	// o200k_base is 2.0 MB instead of 2.8 MB.
	charset: 'utf8',
	logLevel: 'warning',
	metafile: true,
};

/** `dist/nodes/X/X.node.js` → { source: 'nodes/X/X.node.ts', name: 'X' } */
function entry(distPath) {
	if (!distPath.startsWith(ENTRY_PREFIX))
		throw new Error(`package.json n8n entry ${distPath} is not under ${ENTRY_PREFIX}`);
	const relative = distPath.slice(ENTRY_PREFIX.length);
	const source = relative.replace(/\.js$/, '.ts');
	if (!existsSync(path.join(root, source)))
		throw new Error(`package.json n8n entry ${distPath}: no source ${source}`);
	return { relative, source, name: path.basename(relative).split('.')[0] };
}

/** The tokenizer's encodings stay out of lib/nodes.js; anything else from gpt-tokenizer fails the build. */
const tokenizerOutside = {
	name: 'tokenizer-outside',
	setup(b) {
		b.onResolve({ filter: /^gpt-tokenizer(\/|$)/ }, (args) => {
			const encoding = TOKENIZER_ENCODINGS.find(
				(e) => args.path === `gpt-tokenizer/cjs/encoding/${e}`,
			);
			if (!encoding)
				return {
					errors: [
						{
							text: `${args.path}: only gpt-tokenizer/cjs/encoding/{${TOKENIZER_ENCODINGS.join(',')}} is bundled (lazily, as its own file)`,
						},
					],
				};
			return { path: tokenizerPath(encoding), external: true };
		});
	},
};

async function bundleNodes(nodes) {
	const contents = nodes
		.map(({ source, name }) => `export { ${name} } from './${source.replace(/\.ts$/, '')}';`)
		.join('\n');
	const result = await build({
		...common,
		stdin: { contents, resolveDir: root, sourcefile: 'nodes-entry.ts', loader: 'ts' },
		outfile: path.join(out, 'lib', 'nodes.js'),
		plugins: [tokenizerOutside],
	});
	for (const { relative, name } of nodes) {
		const file = path.join(out, relative);
		mkdirSync(path.dirname(file), { recursive: true });
		const lib = path.relative(path.dirname(file), path.join(out, 'lib', 'nodes.js'));
		writeFileSync(
			file,
			`"use strict";\n// The ${name} node; its code and the core every node shares are in ${lib} (loaded once).\nmodule.exports = { ${name}: require(${JSON.stringify(lib)}).${name} };\n`,
		);
	}
	return result.metafile;
}

async function bundleCredentials(credentials) {
	const result = await build({
		...common,
		entryPoints: Object.fromEntries(
			credentials.map(({ relative, source }) => [relative.replace(/\.js$/, ''), source]),
		),
		outdir: out,
	});
	return result.metafile;
}

async function bundleTokenizer() {
	const result = await build({
		...common,
		// Rank tables, one string per line: minified they are half the size, and nobody reads them.
		minify: true,
		entryPoints: Object.fromEntries(
			TOKENIZER_ENCODINGS.map((e) => [
				path.join('lib', tokenizerPath(e)).replace(/\.js$/, ''),
				requireFromRoot.resolve(`gpt-tokenizer/cjs/encoding/${e}`),
			]),
		),
		outdir: out,
	});
	return result.metafile;
}

/**
 * What the bundles still `require` at run time must come from Node, from n8n (its peer
 * dependency) or from dist/ itself: anything else would need the runtime dependency this
 * build exists to remove.
 */
function checkExternals(metafiles) {
	const allowed = new Set([
		...common.external,
		...TOKENIZER_ENCODINGS.map(tokenizerPath),
		...builtinModules,
		...builtinModules.map((m) => `node:${m}`),
		'node:sqlite',
	]);
	const stray = new Set();
	for (const metafile of metafiles)
		for (const output of Object.values(metafile.outputs))
			for (const { path: imported, external } of output.imports)
				if (external && !allowed.has(imported)) stray.add(imported);
	if (stray.size > 0)
		throw new Error(`the bundles require ${[...stray].join(', ')} at run time; bundle it instead`);
}

/** Icons (`file:` paths are relative to the node's file) and codex files (<Node>.node.json) beside each entry. */
function copyStaticFiles(entries) {
	const dirs = new Set(entries.map(({ source }) => path.dirname(source)));
	for (const dir of dirs) {
		for (const name of readdirSync(path.join(root, dir))) {
			if (!/\.(svg|png)$|\.node\.json$/.test(name)) continue;
			mkdirSync(path.join(out, dir), { recursive: true });
			copyFileSync(path.join(root, dir, name), path.join(out, dir, name));
		}
	}
}

/** The folder of the npm package a bundled file came from (nearest package.json with a name and version). */
function packageDirOf(input) {
	let dir = path.dirname(path.resolve(root, input));
	// esbuild names inputs by their real path: a symlinked node_modules (a git worktree sharing
	// another checkout's) lies outside root, so the walk stops at the last node_modules folder.
	while (dir.includes(`${path.sep}node_modules${path.sep}`)) {
		const manifest = path.join(dir, 'package.json');
		if (existsSync(manifest)) {
			const { name, version } = JSON.parse(readFileSync(manifest, 'utf8'));
			if (name && version) return dir;
		}
		dir = path.dirname(dir);
	}
	return undefined;
}

/** The package's licence file(s); else its README's licence section; else what its package.json declares. */
function licenceText(dir, manifest, licence) {
	const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice)(\.|-|$)/i.test(f));
	if (files.length > 0)
		return files.map((f) => readFileSync(path.join(dir, f), 'utf8').trim()).join('\n\n');
	const readme = readdirSync(dir).find((f) => /^readme(\.md)?$/i.test(f));
	const section = readme
		? readFileSync(path.join(dir, readme), 'utf8').match(
				/^#+ *licen[cs]e\b.*\n([\s\S]*?)(?=^#+ |(?![\s\S]))/im,
			)
		: null;
	if (section && section[1].trim() !== '') return section[1].trim();
	const author = typeof manifest.author === 'string' ? manifest.author : manifest.author?.name;
	return `The package ships no licence text; its package.json declares the ${licence} licence${author ? `, author ${author}` : ''}.`;
}

/** The chart renderer's files (core/report/charts/png.ts reads them from here); their packages. */
function copyChartAssets() {
	const assets = JSON.parse(
		readFileSync(path.join(root, 'core', 'report', 'charts', 'assets.json'), 'utf8'),
	);
	const dir = path.join(out, 'lib', assets.dir);
	mkdirSync(dir, { recursive: true });
	const packages = new Set();
	for (const { file, source } of Object.values(assets.files)) {
		const from = requireFromRoot.resolve(source);
		copyFileSync(from, path.join(dir, file));
		packages.add(packageDirOf(from));
	}
	return [...packages];
}

function writeLicences(metafiles, copiedFrom) {
	const dirs = new Set(copiedFrom);
	for (const metafile of metafiles)
		for (const input of Object.keys(metafile.inputs)) {
			if (!input.includes('node_modules/')) continue;
			const dir = packageDirOf(input);
			if (!dir) throw new Error(`bundled ${input}: no package.json with name and version above it`);
			dirs.add(dir);
		}
	const packages = [...dirs]
		.map((dir) => {
			const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
			const licence =
				typeof manifest.license === 'string'
					? manifest.license
					: (manifest.license?.type ?? 'UNKNOWN');
			const text = licenceText(dir, manifest, licence);
			return { name: manifest.name, version: manifest.version, licence, text };
		})
		.sort((a, b) => a.name.localeCompare(b.name));
	const lines = [
		'# Third-party licences',
		'',
		`${pkg.name} ${pkg.version} bundles the following packages into dist/ (it has no runtime dependencies).`,
		'',
		...packages.map((p) => `- ${p.name} ${p.version} (${p.licence})`),
		'',
		...packages.flatMap((p) => [`## ${p.name} ${p.version} (${p.licence})`, '', p.text, '']),
	];
	writeFileSync(path.join(out, 'THIRD_PARTY_LICENSES.md'), lines.join('\n'));
	return packages;
}

function sizeOf(dir) {
	let total = 0;
	for (const name of readdirSync(dir, { recursive: true })) {
		const stat = statSync(path.join(dir, name));
		if (stat.isFile()) total += stat.size;
	}
	return total;
}

const started = Date.now();
rmSync(out, { recursive: true, force: true });
const nodes = pkg.n8n.nodes.map(entry);
const credentials = pkg.n8n.credentials.map(entry);
const metafiles = [
	await bundleNodes(nodes),
	await bundleCredentials(credentials),
	await bundleTokenizer(),
];
checkExternals(metafiles);
copyStaticFiles([...nodes, ...credentials]);
const packages = writeLicences(metafiles, copyChartAssets());
console.log(
	`bundle: ${nodes.length} nodes, ${credentials.length} credentials, ${packages.length} bundled packages → ` +
		`${path.relative(root, out)}/ (${(sizeOf(out) / 1e6).toFixed(1)} MB) in ${Date.now() - started} ms`,
);
