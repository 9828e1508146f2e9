/** The HTTP plumbing every sandbox route shares: bodies, keys, JSON answers. */
import type { IncomingMessage, ServerResponse } from 'node:http';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** The whole body, or undefined when it is over `maxBytes` (read to its end either way). */
export function readBytes(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
	return new Promise((res, rej) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on('data', (c: Buffer) => {
			size += c.length;
			if (size <= maxBytes) chunks.push(c);
		});
		req.on('end', () => res(size > maxBytes ? undefined : Buffer.concat(chunks)));
		req.on('error', rej);
	});
}

/** A call's body as text, or undefined when it is over the 32 MB a call may carry. */
export async function readBody(req: IncomingMessage): Promise<string | undefined> {
	return (await readBytes(req, MAX_BODY_BYTES))?.toString('utf8');
}

export function apiKeyOf(req: IncomingMessage): string {
	const x = req.headers['x-api-key'] ?? req.headers['x-goog-api-key'];
	if (typeof x === 'string' && x !== '') return x;
	// Gemini also takes the key as `?key=`.
	const q = req.url?.indexOf('?') ?? -1;
	const key = q >= 0 ? new URLSearchParams(req.url!.slice(q + 1)).get('key') : null;
	if (key) return key;
	const auth = req.headers.authorization;
	return typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
}

/** Any non-empty key, or one of `apiKeys` when they are set. */
export function keyAccepted(key: string, apiKeys: string[] | undefined): boolean {
	return key !== '' && (!apiKeys || apiKeys.includes(key));
}

export function send(
	res: ServerResponse,
	status: number,
	body: string,
	headers: Record<string, string>,
): void {
	if (res.destroyed || res.headersSent) return;
	headers['content-type'] = 'application/json';
	headers['content-length'] = String(Buffer.byteLength(body));
	res.writeHead(status, headers);
	res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
	send(res, status, typeof body === 'string' ? body : JSON.stringify(body), {});
}
