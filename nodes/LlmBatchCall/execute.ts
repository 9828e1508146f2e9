import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import { withWorkflowReasks } from '../../core/call/input';
import { callOutputs } from '../../core/call/outputs';
import { runCall, type CallInput, type CallResult } from '../../core/call/run-call';
import { answerScope } from '../../core/identity';
import { describeDuplicateIds, describeUnnamed } from '../../core/record-id';
import type { Clock, ProviderName } from '../../core/types';
import { runError } from '../shared/config';
import { outputOf } from '../shared/items';
import { openLedgerOrStop } from '../shared/ledger';
import { providerCredentials, readPromptItems } from '../shared/llm-params';
import { callShapeOf, fallbackModelsOf, priceOverridesOf, readConfig } from './params';
import { limitsFor } from './sharedLimit';

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
	const items = ctx.getInputData();
	const scope = answerScope(cfg.provider, creds.baseUrl, creds.apiKey);
	// The items' prompts; one looped back from Validate Output (or our Failed output) is a re-ask.
	const read = readPromptItems(ctx, callShapeOf(cfg, scope), { keepRaw: models.length > 0 });
	const input: CallInput = {
		...read,
		total: items.length,
		items: cfg.schema
			? withWorkflowReasks(read.runItems, (i) => items[i].json, cfg.resultField)
			: read.runItems,
	};
	const fallback =
		cfg.fallbackProvider === 'none'
			? undefined
			: {
					provider: cfg.fallbackProvider as ProviderName,
					credentials: await providerCredentials(ctx, cfg.fallbackProvider, 'llmBatchFallbackApi'),
					models,
				};
	const store = await openLedgerOrStop(ctx, cfg.ledgerStore, cfg.ledgerSqlitePath);
	const limits = await limitsFor(ctx, cfg, creds, fallback, clock);
	const config = {
		...cfg,
		primary: { provider: cfg.provider, credentials: creds, model: cfg.model },
		fallback,
		prices: priceOverridesOf(cfg),
		ledger: store && { store, job: cfg.ledgerJob },
		label: node,
	};
	const log = {
		info: (line: string) => ctx.logger.info(line, { node }),
		warn: (line: string) => ctx.logger.warn(line, { node }),
	};
	const signal = ctx.getExecutionCancelSignal?.();
	const run = await runCall(config, input, { clock, fetch: deps.fetch, signal, limits, log }).catch(
		(e: unknown) => {
			throw runError(ctx.getNode(), e);
		},
	);
	const shape = { resultField: cfg.resultField, outputFields: cfg.options.outputFields };
	const jsons = items.map((item) => item.json);
	const out = callOutputs(jsons, run.outcomes, input.rejected, shape);
	const toItem = (o: { index: number; json: Record<string, unknown> }) =>
		outputOf(items, o.index, o.json as IDataObject);
	tell(ctx, log, run, read, out.failed.length > 0);
	return [out.success.map(toItem), out.failed.map(toItem)];
}

/** The summary, duplicate IDs, unnamed records and the run's warnings: in the log and as hints. */
function tell(
	ctx: IExecuteFunctions,
	log: { info(line: string): void; warn(line: string): void },
	run: CallResult,
	read: ReturnType<typeof readPromptItems>,
	anyFailed: boolean,
): void {
	const node = ctx.getNode().name;
	const hint = (message: string, type: 'info' | 'warning') =>
		ctx.addExecutionHints?.({ message, type, location: 'outputPane' });
	const warn = (warning: string) => {
		log.warn(`${node}: ${warning}`);
		hint(warning, 'warning');
	};
	log.info(`${node}: finished — ${run.summary}`);
	hint(run.summary, anyFailed ? 'warning' : 'info');
	if (read.duplicates) warn(describeDuplicateIds(read.duplicates));
	if (read.unnamed > 0) hint(describeUnnamed(read.unnamed), 'info');
	for (const warning of run.warnings) warn(warning);
}
