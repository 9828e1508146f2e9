/**
 * A deliberately misbehaving provider for the hostile tests: every request is answered by a
 * script (status, headers, raw body), so tests can send back what real providers and proxies
 * sometimes do — echoed keys, empty bodies, HTML error pages, refusals.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedReply {
	status: number;
	headers?: Record<string, string>;
	/** A string is sent as is; anything else as JSON. */
	body?: unknown;
}

export interface SeenRequest {
	path: string;
	headers: IncomingHttpHeaders;
	body: Record<string, unknown>;
	/** The body as sent (a multipart upload is no JSON). */
	raw: string;
}

export interface ScriptedServer {
	url: string;
	requests: SeenRequest[];
	close(): Promise<void>;
}

export async function startScriptedServer(
	reply: (req: SeenRequest, n: number) => ScriptedReply,
): Promise<ScriptedServer> {
	const requests: SeenRequest[] = [];
	const server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			const sent = Buffer.concat(chunks).toString('utf8');
			let body: Record<string, unknown> = {};
			try {
				body = JSON.parse(sent || '{}');
			} catch {
				// not JSON: keep {}
			}
			const seen = { path: req.url ?? '', headers: req.headers, body, raw: sent };
			requests.push(seen);
			const out = reply(seen, requests.length);
			const raw =
				out.body === undefined
					? ''
					: typeof out.body === 'string'
						? out.body
						: JSON.stringify(out.body);
			res.writeHead(out.status, {
				'content-type':
					typeof out.body === 'string' && !raw.startsWith('{') ? 'text/html' : 'application/json',
				...out.headers,
			});
			res.end(raw);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		requests,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}
