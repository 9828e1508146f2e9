import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { jsonLineBatches } from '../../../core/batch-api/jsonl';
import { streamingFetch } from '../../../core/batch-api/providers/stream-fetch';

let server: Server | undefined;

afterEach(async () => {
	await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
	server = undefined;
});

/** A server that answers with `write` (chunked encoding: each write is its own chunk). */
async function serve(write: (res: ServerResponse) => void): Promise<string> {
	server = createServer((_req, res) => write(res));
	await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
	return `http://127.0.0.1:${(server!.address() as AddressInfo).port}/file`;
}

const LINES = 2_000;
const line = (i: number) => JSON.stringify({ custom_id: `r${i}`, text: `answer ${i} ✓` });

describe('streamingFetch: a result file served one line per chunk', () => {
	it('reaches the reader in few large pieces, every byte in order', async () => {
		const url = await serve((res) => {
			res.writeHead(200, { 'content-type': 'application/octet-stream' });
			let i = 0;
			const pump = () => {
				while (i < LINES) if (!res.write(`${line(i++)}\n`)) return void res.once('drain', pump);
				res.end();
			};
			pump();
		});
		const res = await streamingFetch(url);
		const reader = res.body!.getReader();
		const pieces: Uint8Array[] = [];
		for (;;) {
			const r = await reader.read();
			if (r.done) break;
			pieces.push(r.value);
		}
		const text = Buffer.concat(pieces).toString('utf8');
		expect(text).toBe(Array.from({ length: LINES }, (_, i) => `${line(i)}\n`).join(''));
		// ~70 KB in 2,000 writes: one read per 64 KB piece (and the rest), not one per line.
		expect(pieces.length).toBeLessThanOrEqual(Math.ceil(text.length / (64 * 1024)) + 1);
		expect(pieces.slice(0, -1).every((p) => p.byteLength >= 64 * 1024)).toBe(true);
	});

	it('a connection cut mid-file fails the read (no silent short file)', async () => {
		const url = await serve((res) => {
			res.writeHead(200, { 'content-type': 'application/octet-stream' });
			res.write(`${line(0)}\n${line(1)}\n`);
			setImmediate(() => res.socket?.destroy());
		});
		const res = await streamingFetch(url);
		const lines: string[] = [];
		await expect(
			(async () => {
				for await (const page of jsonLineBatches(res.body as unknown as AsyncIterable<Uint8Array>))
					lines.push(...page);
			})(),
		).rejects.toThrow();
	});
});
