import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { z } from 'zod';
import { resolveRecordId } from '../../core/record-id';
import { parseConfig } from '../shared/config';
import { defaultsOf } from '../shared/defaults';

export const OPERATIONS = [
	'skipCompleted',
	'recordResults',
	'getFailed',
	'requeueStale',
	'exportJob',
	'stats',
	'jobStatus',
	'deleteJob',
] as const;
export type Operation = (typeof OPERATIONS)[number];

const store = {
	ledgerStore: z.enum(['sqlite', 'postgres']),
	ledgerSqlitePath: z.string().trim(),
	ledgerJob: z
		.string()
		.trim()
		.min(1, 'Job Name is empty: name the job the LLM Batch Call node writes to'),
};

/** 0 = all (Return All on). */
const limit = z.number().int('Limit must be a whole number').min(0, 'Limit must be 1 or more');

const config = z
	.discriminatedUnion('operation', [
		z.object({
			operation: z.literal('skipCompleted'),
			...store,
			includeResult: z.boolean(),
			resultField: z.string().trim().min(1, 'Result Field is empty'),
			registerPending: z.boolean(),
		}),
		z.object({
			operation: z.literal('recordResults'),
			...store,
			resultField: z.string().trim().min(1, 'Result Field is empty'),
		}),
		z.object({ operation: z.literal('getFailed'), ...store, limit }),
		z.object({
			operation: z.literal('requeueStale'),
			...store,
			olderThanMinutes: z.number().gt(0, 'Older Than (Minutes) must be greater than 0'),
			requeue: z.boolean(),
		}),
		z.object({
			operation: z.literal('exportJob'),
			...store,
			status: z.enum(['all', 'pending', 'processing', 'succeeded', 'failed']),
			limit,
		}),
		z.object({
			operation: z.literal('stats'),
			...store,
			claimReport: z.boolean().default(false),
			jobChunks: z
				.number()
				.int('Chunks in the Job must be a whole number')
				.min(0, 'Chunks in the Job must be 0 or more')
				.default(0),
			chunk: z.coerce.string().trim().default(''),
		}),
		z.object({
			operation: z.literal('jobStatus'),
			...store,
			stallMinutes: z.number().gt(0, 'Stalled After (Minutes) must be greater than 0').default(5),
			expectedTotal: z
				.number()
				.int('Records in the Job must be a whole number')
				.min(0, 'Records in the Job must be 0 or more')
				.default(0),
			format: z.enum(['json', 'html']).default('json'),
			refreshSeconds: z
				.number()
				.int('Refresh Every (Seconds) must be a whole number')
				.min(0, 'Refresh Every (Seconds) must be 0 or more')
				.default(10),
			alerts: z
				.object({
					minSuccessRatePct: z
						.number()
						.min(0, 'Min Success Rate must be 0-100')
						.max(100, 'Min Success Rate must be 0-100')
						.optional(),
					minDone: z
						.number()
						.int('Min Items Done must be a whole number')
						.min(0, 'Min Items Done must be 0 or more')
						.optional(),
					slowdownFactor: z.number().gt(1, 'Time per Item Factor must be above 1').optional(),
					alertWhenStalled: z.boolean().optional(),
				})
				.default({}),
		}),
		z.object({ operation: z.literal('deleteJob'), ...store }),
	])
	.superRefine((c, ctx) => {
		if (c.operation === 'stats' && c.jobChunks > 0 && c.chunk === '')
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				path: ['chunk'],
				message:
					'This Chunk is empty: with Chunks in the Job set, name the chunk this execution ran',
			});
	});

export type LedgerNodeConfig = z.infer<typeof config>;

/**
 * Node-level parameters -> typed config; `properties` (the operations' own) declare the
 * defaults. Bad configuration fails here, before the store is opened.
 */
export function readConfig(
	ctx: IExecuteFunctions,
	properties: readonly INodeProperties[],
): LedgerNodeConfig {
	const defaults = defaultsOf(properties);
	const p = (name: string) => ctx.getNodeParameter(name, 0, defaults[name]);
	const operation = ctx.getNodeParameter('operation', 0) as string;
	const raw: Record<string, unknown> = {
		operation,
		ledgerStore: ctx.getNodeParameter('ledgerStore', 0, 'sqlite'),
		ledgerSqlitePath: ctx.getNodeParameter('ledgerSqlitePath', 0, ''),
		ledgerJob: ctx.getNodeParameter('ledgerJob', 0, ''),
	};
	const read = (...names: string[]) => names.forEach((n) => (raw[n] = p(n)));
	switch (operation) {
		case 'skipCompleted':
			read('includeResult', 'resultField', 'registerPending');
			break;
		case 'recordResults':
			read('resultField');
			break;
		case 'getFailed':
			raw.limit = readLimit(p);
			break;
		case 'requeueStale':
			read('olderThanMinutes', 'requeue');
			break;
		case 'stats':
			read('claimReport', 'jobChunks', 'chunk');
			break;
		case 'jobStatus':
			read('stallMinutes', 'expectedTotal', 'format', 'refreshSeconds', 'alerts');
			break;
		case 'exportJob':
			read('status');
			raw.limit = readLimit(p);
			break;
	}
	return parseConfig(ctx.getNode(), config, raw);
}

function readLimit(p: (name: string) => unknown): unknown {
	if (p('returnAll') === true) return 0;
	const limit = p('limit');
	return limit === 0 ? -1 : limit; // 0 would mean "all": reject it as a limit
}

/**
 * The record ID parameter of one item (an expression per item) by the one rule
 * (core/record-id.ts), or what it resolved to instead: this node needs an ID for every item.
 */
export function readRecordId(
	ctx: IExecuteFunctions,
	itemIndex: number,
): { id: string } | { problem: string } {
	let resolved;
	try {
		resolved = resolveRecordId({
			value: ctx.getNodeParameter('recordId', itemIndex, ''),
			expression: true,
		});
	} catch (thrown) {
		resolved = resolveRecordId({ thrown: thrown ?? 'error', expression: true });
	}
	if (!resolved.ok) return { problem: resolved.problem };
	return resolved.id === undefined ? { problem: 'resolved to nothing' } : { id: resolved.id };
}
