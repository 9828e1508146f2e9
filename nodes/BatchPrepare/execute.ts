import { randomBytes } from 'node:crypto';

import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import { estimateRun, prepareItems, type PreparedItem } from '../../core/prepare';
import type { Clock } from '../../core/types';
import {
	readEstimateConfig,
	readEstimateTexts,
	readOperation,
	readPrepareConfig,
	readPrepareInputs,
} from './params';

/** Injection points for tests; n8n itself passes nothing. */
export interface PrepareDeps {
	clock?: Clock;
	/** The run ID stamped on every item (default: execution ID + random suffix). */
	runId?: () => string;
}

function toItems(items: PreparedItem[]): INodeExecutionData[] {
	return items.map((item) => ({
		json: item.json as IDataObject,
		pairedItem:
			item.sources.length === 1
				? { item: item.sources[0] }
				: item.sources.map((i) => ({ item: i })),
	}));
}

export async function executeBatchPrepare(
	ctx: IExecuteFunctions,
	deps: PrepareDeps = {},
): Promise<INodeExecutionData[][]> {
	const clock = deps.clock ?? systemClock;
	const operation = readOperation(ctx);
	const items = ctx.getInputData();

	if (operation === 'estimate') {
		const config = readEstimateConfig(ctx);
		const estimate = estimateRun(readEstimateTexts(ctx), config);
		ctx.addExecutionHints({ message: estimate.summary, type: 'info', location: 'outputPane' });
		return [
			[
				{
					json: estimate as unknown as IDataObject,
					pairedItem: items.map((_, i) => ({ item: i })),
				},
			],
			[],
		];
	}

	const config = readPrepareConfig(ctx);
	const inputs = readPrepareInputs(ctx, config);
	const runId =
		deps.runId?.() ?? `${ctx.getExecutionId() ?? 'run'}-${randomBytes(4).toString('hex')}`;
	const result = prepareItems(inputs, config, {
		id: runId,
		startedAt: new Date(clock.now()).toISOString(),
	});

	const { stats } = result;
	if (stats.rejected > 0) {
		const reasons = Object.entries(stats.byReason)
			.filter(([, n]) => n > 0)
			.map(([reason, n]) => `${n} ${reason}`)
			.join(', ');
		ctx.addExecutionHints({
			message: `${stats.ready} ready, ${stats.rejected} rejected (${reasons}) of ${stats.input} items${stats.chunks > 0 ? `; ${stats.chunks} chunks` : ''}`,
			type: stats.byReason.invalid > 0 ? 'warning' : 'info',
			location: 'outputPane',
		});
	}
	return [toItems(result.ready), toItems(result.rejected)];
}
