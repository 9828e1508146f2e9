/**
 * Reads a JSONL byte stream line by line: at most one line (plus one chunk) is in memory at
 * a time, whatever the size of the file.
 *
 * Split on the bytes, not on decoded text: a newline byte never occurs inside a multi-byte
 * UTF-8 character, so each line is decoded once from its own bytes. Decoding whole chunks and
 * concatenating them with the previous remainder (the obvious way) copied every chunk twice
 * more, which was the largest allocation of a Collect (bench/batch-job.ts, the RSS row).
 */
export async function* jsonLines(
	chunks: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<string, void, undefined> {
	for await (const lines of jsonLineBatches(chunks)) yield* lines;
}

/**
 * The same lines, as one array per chunk read: a caller iterating them pays the async
 * iteration (a promise and a result object per step) once per chunk instead of once per line.
 */
export async function* jsonLineBatches(
	chunks: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<string[], void, undefined> {
	// The bytes of a line that continues in the next chunk(s), copied (a chunk's memory may be
	// reused once handed on); joined once its newline arrives.
	let tail: Buffer[] = [];
	for await (const raw of chunks) {
		const chunk =
			typeof raw === 'string'
				? Buffer.from(raw)
				: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
		const lines: string[] = [];
		let from = 0;
		let nl = chunk.indexOf(10);
		while (nl >= 0) {
			let line: string;
			if (tail.length > 0) {
				tail.push(chunk.subarray(0, nl));
				line = Buffer.concat(tail).toString('utf8');
				tail = [];
			} else line = chunk.toString('utf8', from, nl);
			line = line.trim();
			if (line !== '') lines.push(line);
			from = nl + 1;
			nl = chunk.indexOf(10, from);
		}
		if (from < chunk.length) tail.push(Buffer.from(chunk.subarray(from)));
		if (lines.length > 0) yield lines;
	}
	if (tail.length > 0) {
		const last = Buffer.concat(tail).toString('utf8').trim();
		if (last !== '') yield [last];
	}
}
