/**
 * examples/07-invoices-from-pdfs.json, as a document: every connection joins nodes that exist,
 * both LLM nodes send the PDF (Attachments = data), the schema asks for the invoice's fields,
 * and Validate Output holds the totals rule. (Running it needs binary data kept through Batch
 * Prepare and Collect: the in-process run belongs with that.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

interface Node {
	name: string;
	type: string;
	parameters: Record<string, unknown>;
}

const wf = JSON.parse(
	readFileSync(join(__dirname, '../../examples/07-invoices-from-pdfs.json'), 'utf8'),
) as { nodes: Node[]; connections: Record<string, { main: Array<Array<{ node: string }>> }> };
const byName = new Map(wf.nodes.map((n) => [n.name, n]));

it('example 07: Read Files → Batch Prepare → LLM Batch Job with Attachments → Collect → totals → Validate Output → Route Failures → Batch Report', () => {
	for (const [from, { main }] of Object.entries(wf.connections)) {
		expect(byName.has(from)).toBe(true);
		for (const out of main) for (const c of out) expect(byName.has(c.node)).toBe(true);
	}
	expect(byName.get('Read invoice PDFs')?.type).toBe('n8n-nodes-base.readWriteFile');
	const submit = byName.get('Submit batch')!;
	const retry = byName.get('LLM Batch Call (realtime retry)')!;
	for (const n of [submit, retry]) {
		expect((n.parameters.options as { attachments: string }).attachments).toBe('data');
		const schema = JSON.parse(String(n.parameters.jsonSchema)) as { required: string[] };
		expect(schema.required).toEqual([
			'supplier',
			'invoiceNumber',
			'date',
			'dueDate',
			'vat',
			'total',
			'lineItems',
			'confidence',
		]);
	}
	const validate = JSON.parse(String(byName.get('Validate Output')!.parameters.jsonSchema)) as {
		properties: Record<string, unknown>;
	};
	expect(validate.properties.totalsAddUp).toMatchObject({ const: true });
	const types = wf.nodes.map((n) => n.type);
	for (const t of ['batchPrepare', 'llmBatchJob', 'validateOutput', 'routeFailures', 'batchReport'])
		expect(types).toContain(`n8n-nodes-llm-batch.${t}`);
});
