import type { IBinaryKeyData, IExecuteFunctions } from 'n8n-workflow';

import { attachFile, type AttachedFile } from '../../core/call/attachments';

/**
 * The Attachments option read for one item: each named binary property's bytes through
 * n8n (which may keep them in memory, on disk or in S3 — `data` is not always base64),
 * inspected and let go; the request reads them again when it is sent.
 */

/** The option's names: none (''), all ('*'), or a comma-separated list. */
export function attachmentNames(option: string): string[] | '*' {
	const trimmed = option.trim();
	if (trimmed === '*') return '*';
	return trimmed
		.split(',')
		.map((s) => s.trim())
		.filter((s) => s !== '');
}

/** One item's files, or why one cannot be sent (naming the property and the file). */
export async function readItemAttachments(
	ctx: IExecuteFunctions,
	index: number,
	names: string[] | '*',
): Promise<AttachedFile[] | { error: string } | undefined> {
	const binary: IBinaryKeyData = ctx.getInputData()[index]?.binary ?? {};
	const properties = names === '*' ? Object.keys(binary) : names;
	if (properties.length === 0) return undefined;
	const files: AttachedFile[] = [];
	for (const property of properties) {
		const meta = binary[property];
		if (!meta) {
			const present = Object.keys(binary);
			return {
				error: `Attachment ${property} is not on this item (its binary properties: ${present.length > 0 ? present.join(', ') : 'none'}): name the property that holds the file in Attachments, or check the node that reads the file`,
			};
		}
		const read = () => ctx.helpers.getBinaryDataBuffer(index, property);
		let buf: Buffer;
		try {
			buf = await read();
		} catch (e) {
			return {
				error: `Attachment ${property} (${meta.fileName ?? ''}) could not be read: ${(e as Error).message}`,
			};
		}
		const file = attachFile(
			{ property, fileName: meta.fileName, mimeType: meta.mimeType },
			buf,
			read,
		);
		if ('error' in file) return file;
		files.push(file);
	}
	return files;
}

/** Every item's files, one item at a time (only one file's bytes held at once). */
export async function readAllAttachments(
	ctx: IExecuteFunctions,
	option: string,
): Promise<ItemAttachments | undefined> {
	const names = attachmentNames(option);
	if (names !== '*' && names.length === 0) return undefined;
	const out: ItemAttachments = [];
	const count = ctx.getInputData().length;
	for (let i = 0; i < count; i++) out[i] = await readItemAttachments(ctx, i, names);
	return out;
}

export type ItemAttachments = Array<AttachedFile[] | { error: string } | undefined>;
