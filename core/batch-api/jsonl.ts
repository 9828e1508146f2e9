/**
 * Reads a JSONL byte stream line by line: at most one line (plus one chunk) is in memory at
 * a time, whatever the size of the file.
 */
export async function* jsonLines(
	chunks: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<string, void, undefined> {
	const decoder = new TextDecoder();
	let rest = '';
	for await (const chunk of chunks) {
		const text =
			rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
		let from = 0;
		let nl = text.indexOf('\n', from);
		while (nl >= 0) {
			const line = text.slice(from, nl).trim();
			if (line !== '') yield line;
			from = nl + 1;
			nl = text.indexOf('\n', from);
		}
		rest = text.slice(from);
	}
	rest += decoder.decode();
	const last = rest.trim();
	if (last !== '') yield last;
}
