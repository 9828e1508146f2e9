import type { IDataObject, INodeProperties } from 'n8n-workflow';

import type { BatchStatus } from '../../../core/batch-api';

/** One provider batch as an output item. */
export function batchItem(
	job: string,
	b: BatchStatus,
	extra: { requestCount?: number; round?: number; collected?: boolean } = {},
): IDataObject {
	const out: IDataObject = {
		job,
		batchId: b.id,
		provider: b.provider,
		state: b.state,
		providerStatus: b.providerStatus,
		requestCount: extra.requestCount ?? b.counts.total,
		counts: { ...b.counts },
		createdAt: b.createdAt,
		expiresAt: b.expiresAt ?? null,
		endedAt: b.endedAt ?? null,
	};
	if (extra.round !== undefined) out.round = extra.round;
	if (extra.collected !== undefined) out.collected = extra.collected;
	if (b.failure) out.failure = b.failure;
	return out;
}

/** Batch IDs parameter shared by Check Status, Collect Results and Cancel. */
export function batchIdsProperty(operation: string): INodeProperties {
	return {
		displayName: 'Batch IDs',
		name: 'batchIds',
		type: 'string',
		default: '',
		placeholder: 'e.g. batch_abc123, batch_def456',
		description:
			'Only these batches of the job (comma-separated). Empty = every batch of the job whose results were not collected yet.',
		displayOptions: { show: { operation: [operation] } },
	};
}

/** The Deadline option of Check Status and Collect Results. */
export const deadlineOption: INodeProperties = {
	displayName: 'Deadline',
	name: 'deadline',
	type: 'dateTime',
	default: '',
	description:
		'Batches not finished by this time are cancelled; once the cancel has ended, what they finished leaves Collect Results on Success and the rest on Failed as expired (retryable), so Route Failures can send it to LLM Batch Call the same night. Empty = wait for the provider (up to 24 h).',
};
