/**
 * What Check Status, Collect and Cancel make sure of before any provider call: the job is one
 * the ledger knows (a typo is not "all ended"), and it is asked of the provider its batches
 * were submitted to (the batch rows store it).
 */
import type { ProviderName } from '../types';
import type { JobContext } from './context';

/** A job the operation cannot be run on as configured: the node turns it into a configuration error. */
export class JobConfigError extends Error {
	override readonly name = 'JobConfigError';

	constructor(
		readonly code: 'unknown_job' | 'provider_mismatch',
		message: string,
		readonly description: string,
	) {
		super(message);
	}
}

/** How many other job names an unknown job's message lists. */
const KNOWN_LISTED = 20;

export async function assertJobKnown(ctx: JobContext): Promise<void> {
	const rows = await ctx.batches.batches(ctx.job);
	if (rows.length === 0 && (await ctx.batches.listEntries(ctx.job, '', 1)).length === 0) {
		const known = (await ctx.batches.jobNames(KNOWN_LISTED + 1)).filter((j) => j !== ctx.job);
		throw new JobConfigError(
			'unknown_job',
			`Job "${ctx.job}" is not in this ledger: nothing was ever submitted under this name`,
			known.length > 0
				? `Jobs this ledger knows: ${known.slice(0, KNOWN_LISTED).join(', ')}${known.length > KNOWN_LISTED ? ', …' : ''}. Check the Job Name (and the ledger) against the Submit that created the batches; nothing was sent.`
				: 'This ledger has no batch jobs yet. Check the Job Name and the ledger against the Submit that created the batches; nothing was sent.',
		);
	}
	const other = rows.find((r) => r.provider !== ctx.api.provider);
	if (other) {
		throw new JobConfigError(
			'provider_mismatch',
			`Job "${ctx.job}" was submitted to ${providerName(other.provider)}, but this node is set to ${providerName(ctx.api.provider)}`,
			`Batch ${other.batchId} lives at ${providerName(other.provider)}: set Provider (and its credential) to ${providerName(other.provider)} to check, collect or cancel it; nothing was sent.`,
		);
	}
}

function providerName(p: ProviderName): string {
	return p === 'anthropic' ? 'Anthropic' : p === 'gemini' ? 'Google Gemini' : 'OpenAI';
}
