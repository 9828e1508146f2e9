import { NodeOperationError, type INode } from 'n8n-workflow';
import type { z } from 'zod';

import { ConfigurationError } from '../../core/call/preflight';
import { LedgerStoreError } from '../../core/ledger';

/**
 * The one "invalid configuration" error of every node: parses the node-level parameters with
 * the node's zod schema and turns the first issue into a NodeOperationError that names the
 * parameter, before any call is made.
 */
export function parseConfig<S extends z.ZodTypeAny>(
	node: INode,
	schema: S,
	raw: unknown,
): z.infer<S> {
	const parsed = schema.safeParse(raw);
	if (parsed.success) return parsed.data;
	throw configError(node, parsed.error);
}

/** The error for a failed zod parse of node parameters. */
export function configError(node: INode, error: z.ZodError): NodeOperationError {
	const issue = error.issues[0];
	return new NodeOperationError(node, `Invalid configuration: ${issue.message}`, {
		description: `Parameter: ${issue.path.join('.') || 'operation'}`,
	});
}

/**
 * What stops a run that was under way: a configuration the first answer proved wrong, or the
 * ledger failing to store results.
 */
export function runError(node: INode, e: unknown): NodeOperationError {
	if (e instanceof ConfigurationError)
		return new NodeOperationError(node, `Configuration error: ${e.message}`, {
			description: `Parameter: ${e.parameter}.${e.hint ? ` ${e.hint}` : ''}`,
		});
	return new NodeOperationError(node, e as Error, {
		description:
			e instanceof LedgerStoreError
				? 'A result could not be written to the ledger; rerun once the store is back — stored results are not paid for again.'
				: undefined,
	});
}
