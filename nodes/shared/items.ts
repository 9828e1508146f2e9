import type {
	IBinaryKeyData,
	IDataObject,
	INodeExecutionData,
	IPairedItemData,
} from 'n8n-workflow';

/**
 * The one way a node turns an input item into an output item: its new JSON, `pairedItem`
 * pointing at its own input, and the input's binary data (an attached PDF, an image) passed on
 * by reference, untouched — a "classify the attached invoice, then file it" workflow needs the
 * file after the call. Every node that passes items builds them here.
 */
export function outputItem(
	json: IDataObject,
	pairedItem: IPairedItemData | IPairedItemData[] | undefined,
	binary: IBinaryKeyData | undefined,
): INodeExecutionData {
	return binary === undefined ? { json, pairedItem } : { json, binary, pairedItem };
}

/** `outputItem` for input item `index` of `items`, paired with it alone. */
export function outputOf(
	items: readonly INodeExecutionData[],
	index: number,
	json: IDataObject,
): INodeExecutionData {
	return outputItem(json, { item: index }, items[index]?.binary);
}
