import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import { costUsd, type Price } from '../../core/cost';
import {
	cacheScope,
	createCheckpoint,
	DEFAULT_LEASE_MS,
	LedgerStoreError,
	type Checkpoint,
} from '../../core/ledger';
import { formatSummary, reportProgress } from '../../core/call/progress';
import { createProvider } from '../../core/call/providers';
import { BatchRunner, ConfigurationError, type Outcome } from '../../core/call/runner';
import type { Clock, ItemError, Usage } from '../../core/types';
import { compileSchema } from '../../core/schema';
import { ledgerStoreFor } from '../shared/ledger';
import { providerCredentials, readPromptItems } from '../shared/llm-params';
import { readConfig, type CallConfig } from './params';
import { limiterFor } from './sharedLimit';

/** Injection points for tests (a fake clock, a stub fetch); n8n itself passes nothing. */
export interface CallDeps {
	clock?: Clock;
	fetch?: typeof fetch;
}

function invalidInput(message: string): ItemError {
	return { code: 'invalid_input', message, retryable: false, attempts: 0 };
}

function costFunction(cfg: CallConfig): (model: string, usage: Usage) => number | undefined {
	const { inputPricePer1M, outputPricePer1M } = cfg.options;
	const override: Price | undefined =
		inputPricePer1M >= 0 && outputPricePer1M >= 0
			? { inputPer1M: inputPricePer1M, outputPer1M: outputPricePer1M }
			: undefined;
	if (override) {
		return (_model, usage) => costUsd(cfg.model, usage, { overrides: { [cfg.model]: override } });
	}
	return (model, usage) => costUsd(model, usage) ?? costUsd(cfg.model, usage);
}

function buildItems(ctx: IExecuteFunctions, cfg: CallConfig) {
	return readPromptItems(ctx, {
		provider: cfg.provider,
		model: cfg.model,
		schema: cfg.schema,
		maxTokens: cfg.options.maxTokens,
		temperature: cfg.options.temperature,
		contextWindow: cfg.options.contextWindow,
	});
}

export async function executeLlmBatchCall(
	ctx: IExecuteFunctions,
	deps: CallDeps = {},
): Promise<INodeExecutionData[][]> {
	const clock = deps.clock ?? systemClock;
	const cfg = readConfig(ctx);
	const creds = await providerCredentials(ctx, cfg.provider);
	const items = ctx.getInputData();
	const { runItems, rejected } = buildItems(ctx, cfg);

	let checkpoint: Checkpoint | undefined;
	// Set once the runner exists: a failed commit stops the spending at once.
	let onLedgerError: (e: LedgerStoreError) => void = () => undefined;
	if (cfg.ledgerStore !== 'none') {
		try {
			const store = await ledgerStoreFor(ctx, cfg.ledgerStore, cfg.ledgerSqlitePath);
			const cache = cfg.options.responseCache;
			checkpoint = createCheckpoint(store, cfg.ledgerJob, {
				clock,
				onError: (e) => onLedgerError(e),
				// A claim outlives one attempt (limiter wait + request + commit) with room to spare.
				leaseMs: Math.max(DEFAULT_LEASE_MS, 2 * cfg.options.timeoutSeconds * 1000 + 60_000),
				cache:
					cache === 'off'
						? undefined
						: {
								key: cacheScope(cfg.provider, creds.baseUrl ?? '', creds.apiKey),
								crossJob: cache === 'allJobs',
							},
			});
		} catch (e) {
			// A ledger that cannot open must stop the run: running without it would pay again for work already done.
			throw new NodeOperationError(
				ctx.getNode(),
				e instanceof LedgerStoreError ? e.message : (e as Error).message,
				{
					description: 'The ledger could not be opened; nothing was sent.',
				},
			);
		}
	}

	const limit = await limiterFor(ctx, cfg, creds, clock);
	const flow = limit.limiter;
	const validate = cfg.schema ? compileSchema(cfg.schema) : undefined;
	const node = ctx.getNode().name;
	const runner = new BatchRunner({
		provider: createProvider(cfg.provider, creds, deps.fetch),
		flow,
		clock,
		concurrency: cfg.concurrency,
		retry: { maxAttempts: cfg.options.maxAttempts },
		timeoutMs: cfg.options.timeoutSeconds * 1000,
		signal: ctx.getExecutionCancelSignal?.(),
		circuit: {
			threshold: cfg.options.circuitThreshold / 100,
			onOpen: cfg.options.onCircuitOpen,
			outageMs: cfg.options.outageMinutes * 60_000,
		},
		maxRetryAfterMs: cfg.options.maxRetryAfterSeconds * 1000,
		setting: { model: cfg.model, baseUrl: creds.baseUrl },
		structured: cfg.schema ? { validate: validate?.ok ? validate.validate : undefined } : undefined,
		costOf: costFunction(cfg),
		maxCostUsd: cfg.options.maxCostUsd > 0 ? cfg.options.maxCostUsd : undefined,
		checkpoint,
		onEvent: (e) => {
			if (e.type === 'circuit') {
				ctx.logger.warn(
					e.action === 'resume'
						? `${node}: the provider answers again — circuit closed, the run resumes`
						: `${node}: ${Math.round(e.failureShare * 100)} % of recent requests failed with provider errors — circuit breaker ${e.action === 'pause' ? 'pauses the run until a probe succeeds' : 'stops the run'}`,
					{ node },
				);
			} else if (e.type === 'stop') {
				ctx.logger.warn(`${node}: run stopped (${e.code}): ${e.message}`, { node });
			}
		},
	});
	onLedgerError = (e) =>
		runner.stop('canceled', `the ledger could not store results: ${e.message}`);
	limit.onStop((message) => runner.stop('canceled', message));

	const done = runner.run(runItems);
	done.then(limit.release, limit.release);
	const progress = reportProgress(done, runner.stats, {
		clock,
		intervalMs: cfg.options.progressIntervalSeconds * 1000,
		log: (line) => ctx.logger.info(line, { node }),
		label: node,
	});
	let outcomes: Outcome[];
	try {
		outcomes = await done;
	} catch (e) {
		if (e instanceof ConfigurationError) {
			await progress;
			throw new NodeOperationError(ctx.getNode(), `Configuration error: ${e.message}`, {
				description: `Parameter: ${e.parameter}.${e.hint ? ` ${e.hint}` : ''}`,
			});
		}
		// The runner turns every item failure into data; what reaches here is the ledger
		// failing to store results (or a defect), which must stop the node loudly.
		throw new NodeOperationError(ctx.getNode(), e as Error, {
			description:
				e instanceof LedgerStoreError
					? 'A result could not be written to the ledger; rerun once the store is back — stored results are not paid for again.'
					: undefined,
		});
	}
	await progress;

	const success: INodeExecutionData[] = [];
	const failed: INodeExecutionData[] = [];
	const byIndex = new Map<number, Outcome>();
	for (const o of outcomes) byIndex.set(o.index, o);
	for (let i = 0; i < items.length; i++) {
		const { error: previous, ...rest } = items[i].json;
		const o = byIndex.get(i);
		if (o?.ok) {
			success.push({
				json:
					cfg.options.outputFields === 'result'
						? {
								recordId: o.result.recordId,
								// Batch Prepare's run stamp stays: Batch Report needs it to know the run is complete.
								...(rest.batchRun !== undefined ? { batchRun: rest.batchRun } : {}),
								[cfg.resultField]: o.result as unknown as IDataObject,
							}
						: { ...rest, [cfg.resultField]: o.result as unknown as IDataObject },
				pairedItem: { item: i },
			});
			continue;
		}
		const error: ItemError = o
			? o.error
			: (rejected.get(i) ?? invalidInput('Item was not processed'));
		const history = (previous as { history?: ItemError['history'] } | undefined)?.history;
		failed.push({
			json: { ...rest, error: (history ? { ...error, history } : error) as unknown as IDataObject },
			pairedItem: { item: i },
		});
	}

	const stats = runner.stats;
	stats.total = items.length;
	stats.failed += rejected.size;
	stats.done += rejected.size;
	if (rejected.size > 0)
		stats.failuresByCode.invalid_input = (stats.failuresByCode.invalid_input ?? 0) + rejected.size;
	const summary =
		formatSummary(stats, clock.now()) +
		(stats.costUnknown
			? ` · cost unknown: no price for ${cfg.model} (set Input/Output Price per 1M Tokens to track it)`
			: '');
	ctx.logger.info(`${node}: finished — ${summary}`, { node });
	ctx.addExecutionHints?.({
		message: summary,
		type: failed.length > 0 ? 'warning' : 'info',
		location: 'outputPane',
	});
	const limitWarning = limit.finish();
	if (limitWarning) {
		ctx.logger.warn(`${node}: ${limitWarning}`, { node });
		ctx.addExecutionHints?.({ message: limitWarning, type: 'warning', location: 'outputPane' });
	}
	return [success, failed];
}
