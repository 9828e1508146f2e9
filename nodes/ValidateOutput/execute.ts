import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { checkOutput, type Verdict } from '../../core/validate-output';
import { outputOf } from '../shared/items';
import { readConfig } from './params';

const OUTPUT: Record<Verdict, number> = { valid: 0, invalid: 1, review: 2 };

export async function executeValidateOutput(
	ctx: IExecuteFunctions,
): Promise<INodeExecutionData[][]> {
	const config = readConfig(ctx);
	const outputs: INodeExecutionData[][] = [[], [], []];
	let spotChecks = 0;
	const items = ctx.getInputData();
	items.forEach((item, i) => {
		const checked = checkOutput(item.json, config);
		if (checked.spotCheck) spotChecks++;
		outputs[OUTPUT[checked.verdict]].push(outputOf(items, i, checked.json as IDataObject));
	});
	const [valid, invalid, review] = outputs.map((o) => o.length);
	if (invalid + review > 0) {
		ctx.addExecutionHints({
			message: `${valid} valid, ${invalid} invalid, ${review} for review${spotChecks > 0 ? ` (${spotChecks} of them valid, spot checks)` : ''}`,
			type: invalid > 0 ? 'warning' : 'info',
			location: 'outputPane',
		});
	}
	return outputs;
}
