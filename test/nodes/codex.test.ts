import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import pkg from '../../package.json';

interface Codex {
	node: string;
	categories: string[];
	alias: string[];
	resources: { primaryDocumentation: Array<{ url: string }> };
}

/** Each node listed in package.json, with its class file and its codex beside it. */
const nodes = pkg.n8n.nodes.map((compiled) => {
	const source = compiled.replace(/^dist\//, '').replace(/\.js$/, '.ts');
	const codexPath = join(__dirname, '../..', source.replace(/\.ts$/, '.json'));
	return { source, codex: JSON.parse(readFileSync(codexPath, 'utf8')) as Codex };
});

/** What the editor's node search matches besides the display name: aliases and categories. */
function search(term: string): string[] {
	const t = term.toLowerCase();
	return nodes
		.filter(({ codex }) => codex.alias.some((a) => a.toLowerCase().includes(t)))
		.map(({ codex }) => codex.node.split('.')[1]);
}

describe('codex files (<Node>.node.json)', () => {
	it('every node has one, naming the node as a community install registers it', async () => {
		for (const { source, codex } of nodes) {
			const mod = (await import(join(__dirname, '../..', source))) as Record<
				string,
				new () => { description: { name: string } }
			>;
			const [cls] = Object.values(mod);
			expect(codex.node).toBe(`${pkg.name}.${new cls().description.name}`);
			// Not "AI": n8n 2.41's node panel then hides the node from search altogether (the
			// editor e2e test searches the real panel).
			expect(codex.categories).toContain('Development');
			expect(codex.categories).not.toContain('AI');
			expect(codex.resources.primaryDocumentation[0].url).toMatch(/^https:\/\//);
		}
	});

	it('the words users type find the right node', () => {
		expect(search('rate limit')).toEqual(['llmBatchCall']);
		expect(search('OpenAI')).toEqual(['llmBatchCall', 'llmBatchJob']);
		expect(search('Anthropic')).toEqual(['llmBatchCall', 'llmBatchJob']);
		expect(search('half price')).toEqual(['llmBatchJob']);
		expect(search('dead letter')).toEqual(['routeFailures', 'batchLedger']);
		expect(search('retry')).toEqual(['llmBatchCall', 'routeFailures']);
		expect(search('batch')).toEqual(
			expect.arrayContaining([
				'llmBatchCall',
				'llmBatchJob',
				'batchPrepare',
				'batchReport',
				'batchLedger',
			]),
		);
		expect(search('JSON schema')).toEqual(['llmBatchCall', 'validateOutput']);
	});
});
