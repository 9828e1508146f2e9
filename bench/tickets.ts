/**
 * The nightly-tickets inputs the cost benches share (example 01's answer, its instructions and
 * its short tickets), in one module so every bench measures the same workload. No side
 * effects on import.
 */
import type { INodeExecutionData } from 'n8n-workflow';

/** Example 01's answer: category and priority (the sandbox echoes the ticket, to check ownership). */
export const TICKET_SCHEMA = {
	type: 'object',
	properties: {
		category: { type: 'string', enum: ['billing', 'bug', 'feature', 'account', 'other'] },
		priority: { type: 'string', enum: ['low', 'normal', 'high'] },
		echo: { type: 'string' },
	},
	required: ['category', 'priority', 'echo'],
};

const CLASSIFY_LINE =
	'Classify the support ticket by category and priority; billing covers invoices, refunds and payments. ';

/** ~`tokens` tokens of shared instructions (the sandbox counts 4 characters per token), `line` repeated. */
export function instructions(tokens: number, line: string = CLASSIFY_LINE): string {
	return line.repeat(Math.ceil((tokens * 4) / line.length)).slice(0, tokens * 4);
}

/** `n` short tickets with stable IDs (T000000…). */
export function shortTickets(n: number): INodeExecutionData[] {
	return Array.from({ length: n }, (_, i) => ({
		json: {
			id: `T${String(i).padStart(6, '0')}`,
			text: `Ticket ${i}: invoice ${i * 7} charged twice`,
		},
	}));
}
