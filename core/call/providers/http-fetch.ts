import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';

import { bodyBuffer, fileBody, filesOf, type FileBody } from './file-body';

/**
 * A `fetch` for the SDK clients built on node:http with keep-alive agents. Why not the
 * global (undici) fetch: at batch rates its per-request WHATWG-stream machinery leaves so
 * much short-lived garbage that V8 grows the heap to ~3x what the run keeps alive (measured
 * in bench/, part c); this buffers each small JSON answer and hands the SDK a plain
 * `Response`. Only what the SDKs use is implemented: method, headers, string/Buffer body,
 * signal — and a request's files (./file-body.ts), written into the body as it goes out.
 */
const agents = {
	'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }),
	'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

function plainHeaders(
	h: ConstructorParameters<typeof Headers>[0] | undefined,
): Record<string, string> {
	const out: Record<string, string> = {};
	if (!h) return out;
	if (h instanceof Headers) h.forEach((v, k) => (out[k] = v));
	else if (Array.isArray(h)) for (const [k, v] of h) out[k] = v;
	else Object.assign(out, h as Record<string, string>);
	return out;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * An answer's headers as the SDKs and core/call/rate-headers.ts read them (get, has, entries,
 * forEach, iteration), over node:http's lower-cased object. A WHATWG `Headers` copies and sorts
 * every header on each read; at batch rates that garbage outlives the young generation.
 */
class PlainHeaders {
	constructor(private readonly raw: http.IncomingHttpHeaders) {}
	get(name: string): string | null {
		const v = this.raw[name.toLowerCase()];
		if (v === undefined) return null;
		return Array.isArray(v) ? v.join(', ') : v;
	}
	has(name: string): boolean {
		return this.raw[name.toLowerCase()] !== undefined;
	}
	*entries(): IterableIterator<[string, string]> {
		for (const name of Object.keys(this.raw).sort()) {
			const v = this.get(name);
			if (v !== null) yield [name, v];
		}
	}
	*keys(): IterableIterator<string> {
		for (const [k] of this.entries()) yield k;
	}
	*values(): IterableIterator<string> {
		for (const [, v] of this.entries()) yield v;
	}
	forEach(fn: (value: string, name: string, headers: PlainHeaders) => void): void {
		for (const [k, v] of this.entries()) fn(v, k, this);
	}
	[Symbol.iterator](): IterableIterator<[string, string]> {
		return this.entries();
	}
}

/**
 * The buffered answer, with what the SDKs use of a `Response` (status, headers, text/json, a
 * null body). A WHATWG `Response` wraps even a finished buffer in a ReadableStream, which was
 * the largest share of the engine's promoted garbage per request after the SDK's own.
 */
class BufferedResponse {
	readonly ok: boolean;
	readonly body = null;
	readonly bodyUsed = false;
	readonly redirected = false;
	readonly type = 'basic';
	constructor(
		private readonly buffer: Buffer | null,
		readonly status: number,
		readonly statusText: string,
		readonly headers: PlainHeaders,
		readonly url: string,
	) {
		this.ok = status >= 200 && status < 300;
	}
	async text(): Promise<string> {
		return this.buffer ? this.buffer.toString('utf8') : '';
	}
	async json(): Promise<unknown> {
		return JSON.parse(await this.text()) as unknown;
	}
	async arrayBuffer(): Promise<ArrayBuffer> {
		const b = this.buffer ?? Buffer.alloc(0);
		return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
	}
	clone(): BufferedResponse {
		return new BufferedResponse(this.buffer, this.status, this.statusText, this.headers, this.url);
	}
}

export const nodeHttpFetch = ((
	input: string | URL | Request,
	init: RequestInit = {},
): Promise<Response> => {
	const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
	const client = url.protocol === 'https:' ? https : http;
	const body = init.body;
	if (
		body !== undefined &&
		body !== null &&
		typeof body !== 'string' &&
		!(body instanceof Uint8Array)
	) {
		return Promise.reject(new TypeError('nodeHttpFetch: only string or byte bodies are supported'));
	}
	const files = filesOf(init);
	let streamed: FileBody | undefined;
	try {
		streamed = files && typeof body === 'string' ? fileBody(body, files) : undefined;
	} catch (e) {
		return Promise.reject(e as Error);
	}
	const headers = plainHeaders(init.headers);
	if (streamed) headers['content-length'] = String(streamed.length);
	return new Promise<Response>((resolve, reject) => {
		const req = client.request(
			url,
			{
				method: init.method ?? 'GET',
				headers,
				agent: agents[url.protocol as 'http:' | 'https:'],
				signal: init.signal ?? undefined,
			},
			(res) => {
				const chunks: Buffer[] = [];
				res.on('data', (c: Buffer) => chunks.push(c));
				res.on('error', reject);
				res.on('end', () => {
					const status = res.statusCode ?? 500;
					const buffer = NULL_BODY.has(status) ? null : Buffer.concat(chunks);
					resolve(
						new BufferedResponse(
							buffer,
							status,
							res.statusMessage ?? '',
							new PlainHeaders(res.headers),
							url.href,
						) as unknown as Response,
					);
				});
			},
		);
		req.on('error', reject);
		if (streamed && streamed.length <= SMALL_BODY) req.end(bodyBuffer(streamed));
		else if (streamed) writeBody(req, streamed).catch((e: unknown) => req.destroy(e as Error));
		else req.end(body ?? undefined);
	});
}) as typeof fetch;

/** A body with files this small goes in one write: pieces would cost more than they save. */
const SMALL_BODY = 64 * 1024;

/** A body with files, piece by piece, waiting for the socket when it is full (no piece piles up). */
async function writeBody(req: http.ClientRequest, body: FileBody): Promise<void> {
	for (const [text, encoding] of body.pieces())
		if (!req.write(text, encoding)) await once(req, 'drain');
	req.end();
}
