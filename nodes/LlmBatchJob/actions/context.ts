import { NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';

import { createBatchApi, type JobContext } from '../../../core/batch-api';
import { systemClock } from '../../../core/clock';
import { answerScope } from '../../../core/identity';
import { LedgerStoreError } from '../../../core/ledger';
import { batchStoreFor } from '../../../core/batch-api/store/factory';
import type { Clock } from '../../../core/types';
import { ledgerStoreFor } from '../../shared/ledger';
import { providerCredentials } from '../../shared/llm-params';
import { readJobConfig, type JobConfig } from '../params';

/** Injection points for tests (a fake clock, a stub fetch); n8n itself passes nothing. */
export interface JobDeps {
	clock?: Clock;
	fetch?: typeof fetch;
}

/** The provider's batch API and the job's ledger, opened once per execution. */
export async function openJob(
	ctx: IExecuteFunctions,
	deps: JobDeps,
): Promise<{
	cfg: JobConfig;
	job: JobContext;
	clock: Clock;
	notes: string[];
	/** Where this execution's answers come from (core/identity.ts): part of each record's identity. */
	scope: string;
}> {
	const cfg = readJobConfig(ctx);
	const clock = deps.clock ?? systemClock;
	const creds = await providerCredentials(ctx, cfg.provider);
	let store;
	try {
		store = await ledgerStoreFor(ctx, cfg.ledgerStore, cfg.ledgerSqlitePath);
		const batches = batchStoreFor(store);
		await batches.init();
		// What adoption after a crash decided: logged, and shown in the operation's hint.
		const notes: string[] = [];
		const log = (message: string) => {
			notes.push(message);
			ctx.logger?.info(message);
		};
		return {
			cfg,
			clock,
			notes,
			scope: answerScope(cfg.provider, creds.baseUrl, creds.apiKey),
			job: {
				log,
				api: createBatchApi(cfg.provider, creds, deps.fetch),
				store,
				batches,
				job: cfg.jobName,
				clock,
				execution: ctx.getExecutionId(),
			},
		};
	} catch (e) {
		throw new NodeOperationError(
			ctx.getNode(),
			e instanceof LedgerStoreError ? e.message : (e as Error).message,
			{
				description: 'The ledger could not be opened; nothing was sent.',
			},
		);
	}
}
