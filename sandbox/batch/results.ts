/**
 * A batch's result file, written in processing order (not input order): Anthropic's
 * results stream, or OpenAI's output file (successes) and error file (the rest), streamed
 * one line at a time.
 */
import type { ServerResponse } from 'node:http';

import { lineResult, type LineResult } from './line-result';
import { phase } from './phase';
import { CUT_OFF } from './result-faults';
import type { Batch, Line } from './types';

/** Result lines in processing order; `kind` picks OpenAI's output or error file. */
export function* resultLines(
	b: Batch,
	now: () => number,
	kind?: 'output' | 'error',
): Generator<string> {
	const p = phase(b, now());
	for (let k = 0; k < b.order.length; k++) {
		const line = b.lines[b.order[k]];
		const r = lineResult(b, line, k < p.done, p.reason, now);
		if (b.provider === 'anthropic') yield anthropicLine(line, r);
		// Gemini's results hold the requests it processed; the rest have no line.
		else if (b.provider === 'gemini') {
			if (r.kind !== 'not_done') yield geminiLine(line, r);
		} else if ((kind === 'output') === (r.kind === 'ok')) yield openAiLine(b, k, line, r);
	}
}

function anthropicLine(line: Line, r: LineResult): string {
	const result =
		r.kind === 'ok'
			? { type: 'succeeded', message: JSON.parse(r.body) }
			: r.kind === 'error'
				? { type: 'errored', error: JSON.parse(r.body) }
				: { type: r.why };
	return JSON.stringify({ custom_id: line.customId, result });
}

/** A responses-file line: `{key, response}` or `{key, error}` (a google.rpc.Status). */
function geminiLine(line: Line, r: LineResult): string {
	const body = JSON.parse(r.kind === 'not_done' ? '{}' : r.body) as Record<string, unknown>;
	return JSON.stringify(
		r.kind === 'ok'
			? { key: line.customId, response: body }
			: { key: line.customId, error: body.error },
	);
}

function openAiLine(b: Batch, k: number, line: Line, r: LineResult): string {
	const id = `batch_req_${b.id}_${k}`;
	if (r.kind === 'not_done') {
		return JSON.stringify({
			id,
			custom_id: line.customId,
			response: null,
			error: {
				code: r.why === 'expired' ? 'batch_expired' : 'batch_cancelled',
				message:
					r.why === 'expired'
						? 'This request could not be executed before the completion window expired.'
						: 'This request was cancelled before it was executed.',
			},
		});
	}
	return JSON.stringify({
		id,
		custom_id: line.customId,
		response: { status_code: r.status, request_id: `req_${b.id}_${k}`, body: JSON.parse(r.body) },
		error: null,
	});
}

export function streamLines(
	res: ServerResponse,
	lines: Iterable<string>,
	contentType: string,
): void {
	res.writeHead(200, { 'content-type': contentType });
	// One line at a time with backpressure: the file is never built in memory.
	const it = lines[Symbol.iterator]();
	const pump = () => {
		for (;;) {
			const n = it.next();
			if (n.done) return void res.end();
			// A cut-off last line (a fault) is sent without its newline, as a broken download ends.
			const text = n.value.startsWith(CUT_OFF) ? n.value.slice(CUT_OFF.length) : `${n.value}\n`;
			if (!res.write(text)) return void res.once('drain', pump);
		}
	};
	pump();
}
