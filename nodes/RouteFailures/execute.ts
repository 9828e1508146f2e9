import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { systemClock } from '../../core/clock';
import { routeItem, type Route } from '../../core/route';
import type { Clock } from '../../core/types';
import { outputOf } from '../shared/items';
import { readPolicy } from './params';

const OUTPUT: Record<Route, number> = { retry: 0, deadLetter: 1, filtered: 2 };

export async function executeRouteFailures(
	ctx: IExecuteFunctions,
	deps: { clock?: Clock } = {},
): Promise<INodeExecutionData[][]> {
	const clock = deps.clock ?? systemClock;
	const policy = readPolicy(ctx);
	const now = clock.now();
	const outputs: INodeExecutionData[][] = [[], [], []];
	const items = ctx.getInputData();
	items.forEach((item, i) => {
		const routed = routeItem(item.json, policy, now);
		outputs[OUTPUT[routed.route]].push(outputOf(items, i, routed.json as IDataObject));
	});
	const [retry, dead, filtered] = outputs.map((o) => o.length);
	ctx.addExecutionHints({
		message: `${retry} to retry, ${dead} dead letter, ${filtered} filtered`,
		type: dead > 0 ? 'warning' : 'info',
		location: 'outputPane',
	});
	return outputs;
}
