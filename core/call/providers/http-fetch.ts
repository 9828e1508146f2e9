import http from 'node:http';
import https from 'node:https';

/**
 * A `fetch` for the SDK clients built on node:http with keep-alive agents. Why not the
 * global (undici) fetch: at batch rates its per-request WHATWG-stream machinery leaves so
 * much short-lived garbage that V8 grows the heap to ~3x what the run keeps alive (measured
 * in bench/, part c); this buffers each small JSON answer and hands the SDK a plain
 * `Response`. Only what the SDKs use is implemented: method, headers, string/Buffer body,
 * signal.
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
	return new Promise<Response>((resolve, reject) => {
		const req = client.request(
			url,
			{
				method: init.method ?? 'GET',
				headers: plainHeaders(init.headers),
				agent: agents[url.protocol as 'http:' | 'https:'],
				signal: init.signal ?? undefined,
			},
			(res) => {
				const chunks: Buffer[] = [];
				res.on('data', (c: Buffer) => chunks.push(c));
				res.on('error', reject);
				res.on('end', () => {
					const headers = new Headers();
					for (const [k, v] of Object.entries(res.headers)) {
						if (Array.isArray(v)) for (const x of v) headers.append(k, x);
						else if (v !== undefined) headers.set(k, v);
					}
					const status = res.statusCode ?? 500;
					resolve(
						new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), {
							status,
							statusText: res.statusMessage,
							headers,
						}),
					);
				});
			},
		);
		req.on('error', reject);
		req.end(body ?? undefined);
	});
}) as typeof fetch;
