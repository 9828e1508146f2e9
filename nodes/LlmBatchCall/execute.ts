import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import { reaskFromItem } from '../../core/call/input';
import { ConfigurationError } from '../../core/call/preflight';
import { runCall, type CallConfig as RunConfig, type CallLimit } from '../../core/call/run-call';
import type { Outcome } from '../../core/call/types';
import { answerScope } from '../../core/identity';
import { LedgerStoreError, type LedgerStore } from '../../core/ledger';
import { describeDuplicateIds, describeUnnamed } from '../../core/record-id';
import type { Clock, ItemError, ProviderName } from '../../core/types';
import { ledgerStoreFor } from '../shared/ledger';
import { providerCredentials, readPromptItems } from '../shared/llm-params';
import { fallbackModelsOf, priceOverridesOf, readConfig, type CallConfig } from './params';
import { limiterFor } from './sharedLimit';

/** Injection points for tests (a fake clock, a stub fetch); n8n itself passes nothing. */
export interface CallDeps {
	clock?: Clock;
	fetch?: typeof fetch;
}

/** Parameters -> `runCall` (core/call/run-call.ts) -> one output per item. */
export async function executeLlmBatchCall(
	ctx: IExecuteFunctions,
	deps: CallDeps = {},
): Promise<INodeExecutionData[][]> {
	const clock = deps.clock ?? systemClock;
	const cfg = readConfig(ctx);
	const node = ctx.getNode().name;
	const creds = await providerCredentials(ctx, cfg.provider);
	const models = fallbackModelsOf(cfg);
	const scope = answerScope(cfg.provider, creds.baseUrl, creds.apiKey);
	const input = readItems(ctx, cfg, scope, models.length > 0);
	const fallback =
		cfg.fallbackProvider === 'none'
			? undefined
			: {
					provider: cfg.fallbackProvider as ProviderName,
					credentials: await providerCredentials(ctx, cfg.fallbackProvider, 'llmBatchFallbackApi'),
					models,
				};
	const store = await openLedger(ctx, cfg);
	// Each model its own limit, shared the way Share Limits Through says (this process, or Redis).
	const limits: CallLimit[] = [await limiterFor(ctx, cfg, creds, clock)];
	try {
		for (const model of models)
			limits.push(
				await limiterFor(ctx, cfg, fallback!.credentials, clock, {
					provider: fallback!.provider,
					model,
				}),
			);
	} catch (e) {
		for (const l of limits) l.release();
		throw e instanceof NodeOperationError ? e : new NodeOperationError(ctx.getNode(), e as Error);
	}
	const config: RunConfig = {
		...cfg,
		primary: { provider: cfg.provider, credentials: creds, model: cfg.model },
		fallback,
		prices: priceOverridesOf(cfg),
		ledger: store && { store, job: cfg.ledgerJob, execution: ctx.getExecutionId() },
		label: node,
	};
	const log = {
		info: (line: string) => ctx.logger.info(line, { node }),
		warn: (line: string) => ctx.logger.warn(line, { node }),
	};
	const signal = ctx.getExecutionCancelSignal?.();
	const run = await runCall(config, input, { clock, fetch: deps.fetch, signal, limits, log }).catch(
		(e: unknown) => {
			throw nodeError(ctx, e);
		},
	);
	const [success, failed] = toOutputs(ctx, cfg, run.outcomes, input.rejected);
	log.info(`${node}: finished — ${run.summary}`);
	const hint = (message: string, type: 'info' | 'warning') =>
		ctx.addExecutionHints?.({ message, type, location: 'outputPane' });
	hint(run.summary, failed.length > 0 ? 'warning' : 'info');
	if (input.duplicates) {
		const message = describeDuplicateIds(input.duplicates);
		log.warn(`${node}: ${message}`);
		hint(message, 'warning');
	}
	if (input.unnamed > 0) hint(describeUnnamed(input.unnamed), 'info');
	for (const warning of run.warnings) {
		log.warn(`${node}: ${warning}`);
		hint(warning, 'warning');
	}
	return [success, failed];
}

/** The items' prompts; one looped back from Validate Output (or our Failed output) is a re-ask. */
function readItems(ctx: IExecuteFunctions, cfg: CallConfig, scope: string, keepRaw: boolean) {
	const o = cfg.options;
	const shape = {
		provider: cfg.provider,
		scope,
		model: cfg.model,
		schema: cfg.schema,
		maxTokens: o.maxTokens,
		temperature: o.temperature,
		contextWindow: o.contextWindow,
		cacheTtl: o.promptCaching === 'off' ? undefined : o.promptCaching,
	};
	const items = ctx.getInputData();
	const read = { ...readPromptItems(ctx, shape, { keepRaw }), total: items.length };
	if (!cfg.schema) return { ...read, items: read.runItems };
	const runItems = read.runItems.map((out) => {
		const reask = reaskFromItem(items[out.index].json, cfg.resultField);
		if (!reask) return out;
		const request = { ...out.request, followUp: reask.followUp };
		return { ...out, request, priorAttempts: reask.attempts, priorUsage: reask.usage };
	});
	return { ...read, items: runItems };
}

/** A ledger that cannot open stops the run: running without it would pay again for work done. */
async function openLedger(
	ctx: IExecuteFunctions,
	cfg: CallConfig,
): Promise<LedgerStore | undefined> {
	if (cfg.ledgerStore === 'none') return undefined;
	try {
		return await ledgerStoreFor(ctx, cfg.ledgerStore, cfg.ledgerSqlitePath);
	} catch (e) {
		throw new NodeOperationError(ctx.getNode(), (e as Error).message, {
			description: 'The ledger could not be opened; nothing was sent.',
		});
	}
}

/** A configuration the first answer proved wrong, or the ledger failing to store results. */
function nodeError(ctx: IExecuteFunctions, e: unknown): NodeOperationError {
	if (e instanceof ConfigurationError)
		return new NodeOperationError(ctx.getNode(), `Configuration error: ${e.message}`, {
			description: `Parameter: ${e.parameter}.${e.hint ? ` ${e.hint}` : ''}`,
		});
	return new NodeOperationError(ctx.getNode(), e as Error, {
		description:
			e instanceof LedgerStoreError
				? 'A result could not be written to the ledger; rerun once the store is back — stored results are not paid for again.'
				: undefined,
	});
}

/** One output per input item, `pairedItem` its own: the result, or the error. */
function toOutputs(
	ctx: IExecuteFunctions,
	cfg: CallConfig,
	outcomes: Outcome[],
	rejected: ReadonlyMap<number, ItemError>,
): [INodeExecutionData[], INodeExecutionData[]] {
	const items = ctx.getInputData();
	const success: INodeExecutionData[] = [];
	const failed: INodeExecutionData[] = [];
	const byIndex = new Map<number, Outcome>();
	for (const o of outcomes) byIndex.set(o.index, o);
	for (let i = 0; i < items.length; i++) {
		const { error: previous, ...rest } = items[i].json;
		const o = byIndex.get(i);
		if (o?.ok) {
			const result = o.result as unknown as IDataObject;
			const json =
				cfg.options.outputFields === 'result'
					? {
							recordId: o.result.recordId,
							// Batch Prepare's run stamp stays: Batch Report needs it to know the run is complete.
							...(rest.batchRun !== undefined ? { batchRun: rest.batchRun } : {}),
							[cfg.resultField]: result,
						}
					: { ...rest, [cfg.resultField]: result };
			success.push({ json, pairedItem: { item: i } });
			continue;
		}
		const error: ItemError = o ? o.error : (rejected.get(i) ?? notProcessed());
		const history = (previous as { history?: ItemError['history'] } | undefined)?.history;
		failed.push({
			json: { ...rest, error: (history ? { ...error, history } : error) as unknown as IDataObject },
			pairedItem: { item: i },
		});
	}
	return [success, failed];
}

function notProcessed(): ItemError {
	return {
		code: 'invalid_input',
		message: 'Item was not processed',
		retryable: false,
		attempts: 0,
	};
}
