/**
 * (c) Memory: peak RSS of a workflow Start -> LLM Batch Call over N items (zero latency,
 * high limits) beside Start -> a pass-through node over the same items. Each runs in its
 * own child process (`memory-child.js`), the sandbox in yet another one. A third child, the
 * pass-through workflow followed by a bare SDK + p-limit loop, shows what any client that
 * calls the API costs; and each child reports the live heap after a final GC, which tells
 * retained data from garbage V8 had not yet collected at the peak.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { distPath, spawnSandbox } from './common';
import type { MemoryChildResult } from './memory-child';

export interface MemoryResult {
	items: number;
	node: MemoryChildResult;
	passthrough: MemoryChildResult;
	sdk: MemoryChildResult;
	/** node peak RSS / pass-through peak RSS. */
	ratio: number;
}

function runChild(args: string[], log: (line: string) => void): Promise<MemoryChildResult> {
	return new Promise((resolve, reject) => {
		// --expose-gc only for the final GC that measures the retained heap, after the peak is read.
		const child = spawn(
			process.execPath,
			['--expose-gc', distPath('bench/memory-child.js'), ...args],
			{ stdio: ['ignore', 'pipe', 'inherit'] },
		);
		let result: MemoryChildResult | undefined;
		createInterface({ input: child.stdout }).on('line', (line) => {
			if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as MemoryChildResult;
			else if (line.trim() !== '') log(`    [${args[0]}] ${line}`);
		});
		child.once('error', reject);
		child.once('close', (code) => {
			if (code === 0 && result) resolve(result);
			else reject(new Error(`memory-child ${args[0]} exited with code ${code}`));
		});
	});
}

export const mb = (b: number | undefined) =>
	b === undefined ? 'n/a' : `${Math.round(b / 2 ** 20)} MB`;

export async function measureMemory(
	items: number,
	log: (line: string) => void,
): Promise<MemoryResult> {
	log(`(c) memory: ${items} items, each workflow in its own process`);
	const sandbox = await spawnSandbox(['--seed', '1']);
	try {
		const passthrough = await runChild(['passthrough', String(items)], log);
		const node = await runChild(['node', String(items), sandbox.url], log);
		const sdk = await runChild(['sdk', String(items), sandbox.url], log);
		for (const r of [passthrough, node, sdk]) {
			log(
				`    ${r.mode}: peak RSS ${mb(r.maxRssBytes)}, live heap after GC ${mb(r.retainedHeapBytes)} (${r.out} ok, ${r.failed} failed, ${(r.durationMs / 1000).toFixed(1)} s)`,
			);
		}
		return { items, node, passthrough, sdk, ratio: node.maxRssBytes / passthrough.maxRssBytes };
	} finally {
		await sandbox.close();
	}
}
