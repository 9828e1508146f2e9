import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import { Readable, Transform, pipeline } from 'node:stream';

/**
 * A `fetch` for the batch-API clients on node:http, like the engine's `nodeHttpFetch`, but
 * the response body is streamed (a result file can be hundreds of MB) and request bodies may
 * be multipart forms (the OpenAI file upload). Why not the global (undici) fetch: reading a
 * 7 MB result file through it raised the process's peak RSS by ~45 MB against ~15 MB here
 * (measured in bench/batch-job.ts, the RSS row).
 */
const agents = {
	'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
	'https:': new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

const NULL_BODY = new Set([101, 204, 205, 304]);

function isStream(body: unknown): body is AsyncIterable<Uint8Array> {
	return (
		typeof body === 'object' &&
		body !== null &&
		!(body instanceof Uint8Array) &&
		typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function'
	);
}

async function bodyBytes(
	init: RequestInit,
	headers: Headers,
): Promise<string | Uint8Array | AsyncIterable<Uint8Array> | undefined> {
	const body = init.body as unknown;
	if (body === undefined || body === null) return undefined;
	if (typeof body === 'string' || body instanceof Uint8Array) return body;
	// A streamed upload (a batch of hundreds of MB): written as it is produced, with the
	// length the caller gave.
	if (isStream(body)) return body;
	// FormData, Blob, URLSearchParams, streams: let the platform encode it once (with the
	// multipart boundary in its content type).
	const encoded = new Response(body as ConstructorParameters<typeof Response>[0]);
	const type = encoded.headers.get('content-type');
	if (type && !headers.has('content-type')) headers.set('content-type', type);
	return new Uint8Array(await encoded.arrayBuffer());
}

/** Body pieces handed to the reader are at least this big (the last may be smaller). */
const MIN_PIECE = 64 * 1024;

/**
 * Joins a body's small chunks into pieces of at least `min` bytes. A server that writes a
 * result file line by line in chunked encoding hands the reader one line per chunk, and every
 * read of a web stream costs promises and result objects: reading 10,000 one-line chunks was
 * a fifth of a Collect's allocations (bench/batch-job.ts, the RSS row). A Transform's
 * callback is synchronous, so joining costs no promise per chunk.
 */
function coalescing(min: number): Transform {
	let parts: Buffer[] = [];
	let size = 0;
	const take = (): Buffer => {
		const piece = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
		parts = [];
		size = 0;
		return piece;
	};
	return new Transform({
		transform(chunk: Buffer, _encoding, done) {
			parts.push(chunk);
			size += chunk.length;
			if (size >= min) done(null, take());
			else done();
		},
		flush(done) {
			if (size > 0) done(null, take());
			else done();
		},
	});
}

export const streamingFetch = (async (
	input: string | URL | Request,
	init: RequestInit = {},
): Promise<Response> => {
	const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
	const client = url.protocol === 'https:' ? https : http;
	const headers = new Headers(init.headers);
	const body = await bodyBytes(init, headers);
	if (body !== undefined && !isStream(body))
		headers.set('content-length', String(Buffer.byteLength(body)));
	const plain: Record<string, string> = {};
	headers.forEach((v, k) => (plain[k] = v));
	return await new Promise<Response>((resolve, reject) => {
		const req = client.request(
			url,
			{
				method: init.method ?? 'GET',
				headers: plain,
				agent: agents[url.protocol as 'http:' | 'https:'],
				signal: init.signal ?? undefined,
			},
			(res) => {
				const out = new Headers();
				for (const [k, v] of Object.entries(res.headers)) {
					if (Array.isArray(v)) for (const x of v) out.append(k, x);
					else if (v !== undefined) out.set(k, v);
				}
				const status = res.statusCode ?? 500;
				if (NULL_BODY.has(status)) res.resume();
				resolve(
					new Response(
						NULL_BODY.has(status)
							? null
							: // One chunk queued ahead of the reader at most: the socket is paused
								// while Collect works on a chunk, instead of the rest of the file
								// piling up in memory as the stream's queue.
								(Readable.toWeb(
									pipeline(res, coalescing(MIN_PIECE), () => {}),
									{
										strategy: new CountQueuingStrategy({ highWaterMark: 1 }),
									},
								) as ReadableStream<Uint8Array>),
						{ status, statusText: res.statusMessage, headers: out },
					),
				);
			},
		);
		req.on('error', reject);
		if (!isStream(body)) return void req.end(body);
		// Backpressure: the next piece is produced once the socket has taken the last one.
		void (async () => {
			for await (const piece of body) {
				if (!req.write(piece)) await once(req, 'drain');
			}
			req.end();
		})().catch((e: unknown) => req.destroy(e as Error));
	});
}) as typeof fetch;
