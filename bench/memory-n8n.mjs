// `npm run bench:memory-n8n [-- --items=N] [--pairs=N]`: peak RSS of real n8n (`n8n execute`, the
// packed package community-installed) running Manual Trigger -> Code (N items) -> LLM Batch Call
// against the sandbox, beside the same items through a pass-through (No Operation) node.
// n8n keeps every item of an execution, so what the call node adds per item is multiplied by N.
//
// The pairs alternate (pass-through, node, pass-through, node…) so a busy machine weighs on both
// arms alike. Peak RSS of n8n's main process is its own `resourceUsage().maxRSS`, written at exit
// by a preloaded script (the run JSON is printed last, so polling would miss that peak); the task
// runner (the Code node runs there) is read from /proc VmHWM while it lives. The ratio is main
// process over main process; the runner's peak is printed beside it (the same work in both arms).
//
// With --reference, three arms run once after the pairs and tell the node's share from n8n's: a
// Code node returning a copy of each item (what a Code node costs), a Code node returning each item
// with an output block shaped like the node's (the first answer's, per item recordId, answer, hash
// and time), and n8n's own Edit Fields (Set) node adding the same block in n8n's main process, as
// LLM Batch Call does (a Code node builds its items in the task runner): the peak that merely
// making, keeping and serialising such items costs, with no request sent.
//
// With --documents, the same pairing over binary items: Manual Trigger -> Read Files (1,000
// generated invoice PDFs of 1-3 pages on disk, --items to change) -> LLM Batch Call sending each
// file (Attachments = data, JSON Schema) beside -> No Operation; --pdf-kb=N pads each PDF to about
// N KB with incompressible bytes after %%EOF (readers ignore them), the size of a real invoice.
//
// With --fields, the shaped arm runs again without each field of the block in turn. Read it as
// a rough guide, not as a price per field: the costs do not add up (at 20,000 items one run
// measured 30-65 MB saved for any single field, a deduplicated string and a small number alike)
// and the same arm varies by some 40 MB between runs: repeat before trusting a difference.
//
// Prints a Markdown table and the median ratio; asserts only that every item came out.
import { spawn } from 'node:child_process';
import {
	closeSync,
	mkdirSync,
	mkdtempSync,
	openSync,
	readdirSync,
	readFileSync,
	rmSync,
	writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import {
	assertN8nInstalled,
	encryptionKeyFor,
	freePort,
	importCredentials,
	importWorkflowDir,
	installPackage,
	packPackage,
	sandboxCredentials,
	startSandbox,
	CREDENTIAL_IDS,
} from '../scripts/n8n/lib.mjs';
import { n8nBin, n8nEnv, node24 } from '../scripts/n8n/paths.mjs';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
	const v = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
	return v === undefined ? fallback : Number(v);
};
const DOCUMENTS = args.includes('--documents');
const ITEMS = arg('items', DOCUMENTS ? 1_000 : 20_000);
const PDF_KB = arg('pdf-kb', 0);
// A package tarball to measure instead of packing this checkout's dist/ (to compare two builds).
const TARBALL = args.find((a) => a.startsWith('--tarball='))?.split('=')[1];
const PAIRS = arg('pairs', 3);
const REFERENCE = args.includes('--reference');
// The Code Shape arm again without each field of the block in turn: what each field costs.
const FIELDS = args.includes('--fields');
const CONCURRENCY = 32;
const TARGET = DOCUMENTS ? 1.5 : 1.3;
const log = (line) => console.log(`[bench:memory-n8n] ${line}`);
const mb = (bytes) => `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MB`;

const NODE_ID = 'llmBatchMemoryNode';
const PASS_ID = 'llmBatchMemoryPass';

/** Manual Trigger -> Code (ITEMS tickets) -> `step`. */
function workflow(id, step) {
	const code = `return Array.from({ length: ${ITEMS} }, (_, i) => ({ json: { id: 'T' + String(i).padStart(6, '0'), text: 'Ticket ' + i + ': my invoice ' + i * 7 + ' was charged twice, please refund the second payment.' } }));`;
	const node = (n, name, type, typeVersion, parameters, extra = {}) => ({
		id: `${id}-${n}`,
		name,
		type,
		typeVersion,
		position: [n * 220, 0],
		parameters,
		...extra,
	});
	return {
		id,
		name: `bench memory: ${step.name}`,
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			node(0, 'Start', 'n8n-nodes-base.manualTrigger', 1, {}),
			node(1, 'Make Tickets', 'n8n-nodes-base.code', 2, { jsCode: code }),
			node(2, step.name, step.type, step.typeVersion ?? 1, step.parameters ?? {}, step.extra ?? {}),
		],
		connections: {
			Start: { main: [[{ node: 'Make Tickets', type: 'main', index: 0 }]] },
			'Make Tickets': { main: [[{ node: step.name, type: 'main', index: 0 }]] },
		},
	};
}

const llmStep = {
	name: 'LLM Batch Call',
	type: 'n8n-nodes-llm-batch.llmBatchCall',
	parameters: {
		provider: 'openai',
		model: 'gpt-4o-mini',
		prompt: '={{ $json.text }}',
		recordId: '={{ $json.id }}',
		outputFormat: 'text',
		concurrency: CONCURRENCY,
		requestsPerMinute: 100_000_000,
		tokensPerMinute: 1e12,
		options: { maxTokens: 64, progressIntervalSeconds: 10 },
	},
	extra: {
		credentials: {
			llmBatchOpenAiApi: { id: CREDENTIAL_IDS.openAi, name: 'LLM Sandbox (OpenAI-compatible)' },
		},
	},
};
const passStep = { name: 'Pass Through', type: 'n8n-nodes-base.noOp' };

/** Manual Trigger -> Read Files (every PDF in `dir`) -> `step`: the --documents arm. */
function documentsWorkflow(id, step, dir) {
	const wf = workflow(id, step);
	wf.name = `bench memory (documents): ${step.name}`;
	wf.nodes[1] = {
		...wf.nodes[1],
		name: 'Read PDFs',
		type: 'n8n-nodes-base.readWriteFile',
		typeVersion: 1,
		parameters: { operation: 'read', fileSelector: `${dir}/*.pdf`, options: {} },
	};
	wf.connections = {
		Start: { main: [[{ node: 'Read PDFs', type: 'main', index: 0 }]] },
		'Read PDFs': { main: [[{ node: step.name, type: 'main', index: 0 }]] },
	};
	return wf;
}

/** ITEMS invoice PDFs (1-3 pages, test/helpers/pdf.ts through the build) written to `dir`. */
function writeInvoices(dir) {
	const { invoicePdf } = createRequire(import.meta.url)('../build/test/helpers/pdf.js');
	mkdirSync(dir, { recursive: true });
	let bytes = 0;
	for (let n = 0; n < ITEMS; n++) {
		let { pdf } = invoicePdf(n, { compress: n % 2 === 1 });
		const pad = PDF_KB * 1024 - pdf.length;
		if (pad > 0)
			pdf = Buffer.concat([
				pdf,
				Buffer.from(`%${randomBytes(pad).toString('base64')}`.slice(0, pad)),
			]);
		writeFileSync(path.join(dir, `invoice-${String(n).padStart(5, '0')}.pdf`), pdf);
		bytes += pdf.length;
	}
	return bytes;
}

const documentStep = (schema) => ({
	...llmStep,
	parameters: {
		...llmStep.parameters,
		model: 'gpt-4.1-mini',
		prompt: 'Extract this invoice into the record.',
		recordId: '={{ $json.fileName }}',
		outputFormat: 'json',
		jsonSchema: JSON.stringify(schema),
		options: { ...llmStep.parameters.options, maxTokens: 400, attachments: 'data' },
	},
});

/** A Code node (run once for all items) returning `body` over `items`. */
const codeStep = (name, body) => ({
	name,
	type: 'n8n-nodes-base.code',
	parameters: { jsCode: `return $input.all().map((it, i) => (${body}));` },
});
const copyStep = codeStep('Code Copy', '{ json: { ...it.json }, pairedItem: { item: i } }');
/**
 * Items shaped like LLM Batch Call's Success output, from its first output item's block: each
 * item's own record ID, answer text, hashes and time (unique strings cost what the node's do),
 * without the fields in `drop` (--fields).
 */
const shapeStep = (llm, drop = []) => {
	const uniq = (s, at) =>
		`${JSON.stringify(s.slice(0, at - 6))} + n + ${JSON.stringify(s.slice(at))}`;
	const answer = typeof llm.text === 'string' ? uniq(llm.text, llm.text.length) : 'undefined';
	const sets = [
		'b.recordId = it.json.id',
		`b.promptHash = ${uniq(llm.promptHash, llm.promptHash.indexOf(':') < 0 ? llm.promptHash.length : llm.promptHash.indexOf(':'))}`,
		llm.inputHash === undefined ? '' : `b.inputHash = ${uniq(llm.inputHash, llm.inputHash.length)}`,
		'b.completedAt = new Date(Date.now() + i).toISOString()',
		`if (typeof b.text === 'string') b.text = ${answer}`,
		"if (typeof b.output === 'string') b.output = b.text",
		`for (const k of ${JSON.stringify(drop)}) delete b[k]`,
	].filter(Boolean);
	return codeStep(
		drop.length ? `Code Shape without ${drop.join(', ')}` : 'Code Shape',
		`(() => { const n = String(i).padStart(6, '0'); const b = { ...${JSON.stringify(llm)} }; ${sets.join('; ')}; return { json: { ...it.json, llm: b }, pairedItem: { item: i } }; })()`,
	);
};

/**
 * n8n's Edit Fields (Set) node adding the same block as `shapeStep`, one JSON template per item
 * evaluated in n8n's main process: record ID, answer, hashes and time unique per item.
 */
const setShapeStep = (llm) => {
	const n = "{{ String($itemIndex).padStart(6, '0') }}";
	const uniq = (s, at) =>
		`${JSON.stringify(s.slice(0, at - 6)).slice(0, -1)}${n}${JSON.stringify(s.slice(at)).slice(1)}`;
	const value = (k, v) => {
		if (k === 'recordId') return '"{{ $json.id }}"';
		if (k === 'completedAt') return '"{{ new Date(Date.now() + $itemIndex).toISOString() }}"';
		if (typeof v !== 'string') return JSON.stringify(v);
		if (k === 'text' || k === 'output' || k === 'inputHash') return uniq(v, v.length);
		if (k === 'promptHash') return uniq(v, v.indexOf(':') < 0 ? v.length : v.indexOf(':'));
		return JSON.stringify(v);
	};
	const fields = Object.entries(llm).map(([k, v]) => `${JSON.stringify(k)}: ${value(k, v)}`);
	return {
		name: 'Set Shape',
		type: 'n8n-nodes-base.set',
		typeVersion: 3.4,
		parameters: {
			mode: 'raw',
			includeOtherFields: true,
			jsonOutput: `={ "llm": { ${fields.join(', ')} } }`,
			options: {},
		},
	};
};

/** VmHWM of a process in bytes (Linux), NaN when gone. */
function vmHwm(pid) {
	try {
		const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
		return m ? Number(m[1]) * 1024 : NaN;
	} catch {
		return NaN;
	}
}

/** Direct and indirect children of `pid`, from /proc. */
function descendants(pid) {
	const parent = new Map();
	for (const d of readdirSync('/proc')) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
			parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
		} catch {
			// gone meanwhile
		}
	}
	const out = [pid];
	for (let i = 0; i < out.length; i++)
		for (const [child, ppid] of parent) if (ppid === out[i]) out.push(child);
	return out.slice(1);
}

/** One `n8n execute`; resolves with the main peak, the runners' peak and the item count out. */
function execute(userFolder, id, stepName, peakDir) {
	const peakFile = path.join(peakDir, `${id}-${Date.now()}.json`);
	return new Promise((resolve, reject) => {
		freePort().then((brokerPort) => {
			const env = n8nEnv(userFolder, {
				N8N_ENCRYPTION_KEY: encryptionKeyFor(userFolder),
				N8N_RUNNERS_BROKER_PORT: String(brokerPort),
				N8N_EXPRESSION_ENGINE: 'legacy',
				NODE_OPTIONS: `--require ${path.join(peakDir, 'peak.cjs')}`,
				LLM_BATCH_PEAK_FILE: peakFile,
			});
			// stdout to a file: `n8n execute` exits right after printing the run, which cuts a pipe short.
			const outFile = peakFile.replace(/\.json$/, '.out');
			const outFd = openSync(outFile, 'w');
			const child = spawn(node24(), [n8nBin(), 'execute', `--id=${id}`, '--rawOutput'], {
				cwd: userFolder,
				env,
				stdio: ['ignore', outFd, 'pipe'],
			});
			closeSync(outFd);
			let stderr = '';
			child.stderr.on('data', (c) => (stderr += c));
			let runners = 0;
			const poll = setInterval(() => {
				for (const pid of descendants(child.pid)) runners = Math.max(runners, vmHwm(pid) || 0);
			}, 100);
			const timer = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000);
			child.on('close', (code) => {
				clearInterval(poll);
				clearTimeout(timer);
				const stdout = readFileSync(outFile, 'utf8');
				rmSync(outFile, { force: true });
				try {
					const { maxRssBytes } = JSON.parse(readFileSync(peakFile, 'utf8'));
					const lines = stdout.split('\n');
					const start = lines.findIndex((l) => l === '{');
					const end = lines.findIndex((l, i) => i > start && l === '}');
					if (start < 0) throw new Error('no run JSON');
					const run = JSON.parse(lines.slice(start, end + 1).join('\n'));
					const out = (run.data.resultData.runData[stepName]?.[0]?.data?.main ?? []).map(
						(items) => items?.length ?? 0,
					);
					if (out.reduce((a, b) => a + b, 0) !== ITEMS)
						throw new Error(`${stepName} put out ${out.join(' + ')} items for ${ITEMS}`);
					const first = run.data.resultData.runData[stepName]?.[0]?.data?.main?.[0]?.[0]?.json;
					resolve({ main: maxRssBytes, runners, out, first });
				} catch (error) {
					reject(
						new Error(
							`n8n execute --id=${id} (exit ${code}): ${error.message}\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`,
						),
					);
				}
			});
		}, reject);
	});
}

const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
	assertN8nInstalled();
	const userFolder = mkdtempSync(path.join(os.tmpdir(), 'llm-batch-bench-memory-'));
	const peakDir = path.join(userFolder, 'peaks');
	mkdirSync(peakDir, { recursive: true });
	writeFileSync(
		path.join(peakDir, 'peak.cjs'),
		"const f = process.env.LLM_BATCH_PEAK_FILE; if (f) process.on('exit', () => require('node:fs').writeFileSync(f, JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 })));\n",
	);
	const sandbox = await startSandbox(['--port', '0', '--seed', '1']);
	try {
		log(`packing and installing the package into ${userFolder}`);
		await installPackage(
			userFolder,
			TARBALL ? path.resolve(TARBALL) : await packPackage(path.join(userFolder, 'pack')),
		);
		const wfDir = path.join(userFolder, 'workflows');
		mkdirSync(wfDir, { recursive: true });
		const arm = DOCUMENTS ? documentsArms(userFolder) : itemArms();
		writeFileSync(path.join(wfDir, 'node.json'), JSON.stringify(arm.node));
		writeFileSync(path.join(wfDir, 'pass.json'), JSON.stringify(arm.pass));
		await importCredentials(userFolder, sandboxCredentials(sandbox.url));
		await importWorkflowDir(userFolder, wfDir);
		const rows = [];
		for (let p = 1; p <= PAIRS; p++) {
			const pass = await execute(userFolder, PASS_ID, passStep.name, peakDir);
			log(`pair ${p}: pass-through main ${mb(pass.main)}, task runner ${mb(pass.runners)}`);
			const node = await execute(userFolder, NODE_ID, llmStep.name, peakDir);
			log(
				`pair ${p}: LLM Batch Call main ${mb(node.main)}, task runner ${mb(node.runners)} (${node.out.join(' ok + ')} failed)`,
			);
			rows.push({ pass, node, ratio: node.main / pass.main });
		}
		const ratio = median(rows.map((r) => r.ratio));
		console.log('');
		console.log(
			`| pair | LLM Batch Call (main) | pass-through (main) | ratio | task runner (node / pass) |`,
		);
		console.log('|---|---|---|---|---|');
		rows.forEach((r, i) =>
			console.log(
				`| ${i + 1} | ${mb(r.node.main)} | ${mb(r.pass.main)} | ${r.ratio.toFixed(2)}× | ${mb(r.node.runners)} / ${mb(r.pass.runners)} |`,
			),
		);
		console.log(
			`| median of ${rows.length} | | | **${ratio.toFixed(2)}×** (target ≤ ${TARGET}×: ${ratio <= TARGET ? 'met' : 'miss'}) | |`,
		);
		if (REFERENCE) await reference(userFolder, wfDir, peakDir, rows);
		if (FIELDS) await fieldCosts(userFolder, wfDir, peakDir, rows);
		console.log(
			`\n${arm.what}, \`n8n execute\` (n8n 2.41.1, SQLite), concurrency ${CONCURRENCY}, zero sandbox latency; peak RSS of n8n's main process.`,
		);
	} finally {
		await sandbox.stop();
		if (!process.env.LLM_BATCH_KEEP_BENCH) rmSync(userFolder, { recursive: true, force: true });
	}
}

/** The two workflows of a pair over generated tickets, and what the footnote says of them. */
function itemArms() {
	return {
		node: workflow(NODE_ID, llmStep),
		pass: workflow(PASS_ID, passStep),
		what: `${ITEMS.toLocaleString('en-US')} items`,
	};
}

/** --documents: the two workflows of a pair over the same PDFs read from disk. */
function documentsArms(userFolder) {
	if (REFERENCE || FIELDS)
		throw new Error('--reference and --fields measure item arms only, not --documents');
	const dir = path.join(userFolder, 'invoices');
	const bytes = writeInvoices(dir);
	// n8n 2 reads files only under ~/.n8n-files unless this names the folder.
	process.env.N8N_RESTRICT_FILE_ACCESS_TO = dir;
	const { INVOICE_SCHEMA } = createRequire(import.meta.url)('../build/test/helpers/pdf.js');
	return {
		node: documentsWorkflow(NODE_ID, documentStep(INVOICE_SCHEMA), dir),
		pass: documentsWorkflow(PASS_ID, passStep, dir),
		what: `${ITEMS.toLocaleString('en-US')} invoice PDFs of 1–3 pages (${mb(bytes)} on disk, read by Read Files; binary data in n8n's default filesystem mode), LLM Batch Call with Attachments = data and a JSON Schema`,
	};
}

/** The block of the node's first Success item: the shape the Code-node arms copy. */
function firstBlock(rows) {
	const llm = rows.find((r) => r.node.first?.llm)?.node.first.llm;
	if (!llm) throw new Error('no LLM Batch Call success item to take the shape from');
	return llm;
}

/** The three reference arms (--reference), beside the last pair's pass-through. */
async function reference(userFolder, wfDir, peakDir, rows) {
	const llm = firstBlock(rows);
	const steps = [
		['copy', 'COPY', copyStep],
		['shape', 'SHAPE', shapeStep(llm)],
		['set', 'SET', setShapeStep(llm)],
	];
	for (const [file, id, step] of steps)
		writeFileSync(
			path.join(wfDir, `${file}.json`),
			JSON.stringify(workflow(`llmBatchMemory${id}`, step)),
		);
	await importWorkflowDir(userFolder, wfDir);
	const pass = rows[rows.length - 1].pass.main;
	console.log('');
	console.log('| reference (no request sent) | main | ratio to the last pass-through |');
	console.log('|---|---|---|');
	const what = {
		COPY: 'a Code node returning a copy of each item',
		SHAPE: "a Code node (task runner) returning each item with LLM Batch Call's output block",
		SET: "n8n's Edit Fields node (main process) adding the same block to each item",
	};
	for (const [, id, step] of steps) {
		const r = await execute(userFolder, `llmBatchMemory${id}`, step.name, peakDir);
		// An arm that did not make the block would measure nothing (a wrong parameter is silent).
		const keys = Object.keys(r.first?.llm ?? {}).join();
		if (id !== 'COPY' && keys !== Object.keys(llm).join())
			throw new Error(`${step.name} made a block of ${keys || 'no fields'}, not the node's`);
		console.log(`| ${step.name}: ${what[id]} | ${mb(r.main)} | ${(r.main / pass).toFixed(2)}× |`);
	}
}

/** --fields: the Code Shape arm whole, then without each field in turn, and what each saves. */
async function fieldCosts(userFolder, wfDir, peakDir, rows) {
	const llm = firstBlock(rows);
	const arms = [[], ...Object.keys(llm).map((k) => [k])].map((drop, n) => ({
		id: `llmBatchMemoryField${n}`,
		drop,
		step: shapeStep(llm, drop),
	}));
	for (const a of arms)
		writeFileSync(path.join(wfDir, `${a.id}.json`), JSON.stringify(workflow(a.id, a.step)));
	await importWorkflowDir(userFolder, wfDir);
	console.log('');
	console.log('| Code Shape (no request sent) | main | saved against the whole block |');
	console.log('|---|---|---|');
	let whole;
	for (const a of arms) {
		const r = await execute(userFolder, a.id, a.step.name, peakDir);
		whole ??= r.main;
		const label = a.drop.length ? `without \`${a.drop[0]}\`` : 'the whole block';
		console.log(`| ${label} | ${mb(r.main)} | ${a.drop.length ? mb(whole - r.main) : ''} |`);
	}
}

main().then(
	() => process.exit(0),
	(error) => {
		console.error(error);
		process.exit(1);
	},
);
