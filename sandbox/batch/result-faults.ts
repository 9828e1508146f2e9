/**
 * Hostile result files (`resultFaults`): a garbled line, an unreadable line, a cut-off last
 * line, a line that comes twice. Positions count the file's lines in the order they are sent.
 */
import type { Provider, ResultFaults } from './types';

/** Marks a fault line sent without its newline (see streamLines). */
export const CUT_OFF = '\u0000cut-off\u0000';

/** The configured result faults applied to a result file, line by line. */
export function withFaults(
	provider: Provider,
	f: ResultFaults,
	lines: Iterable<string>,
): Iterable<string> {
	return Object.keys(f).length === 0 ? lines : faulty(provider, [...lines], f);
}

function* faulty(provider: Provider, all: string[], f: ResultFaults): Generator<string> {
	for (let k = 0; k < all.length; k++) {
		let line = all[k];
		if (f.unreadableLine === k) yield '%%% not a result line %%%';
		if (f.duplicateLine?.at === k && f.duplicateLine.kind === 'error-first')
			yield errorLineFor(provider, line);
		if (f.garbledLine === k)
			line = `{${/"(custom_id|key)":"[^"]*"/.exec(line)?.[0]},"result": {oops`;
		if (f.cutOffLastLine && k === all.length - 1)
			line = CUT_OFF + line.slice(0, Math.floor(line.length / 2));
		yield line;
		if (f.duplicateLine?.at === k && f.duplicateLine.kind === 'same') yield line;
		if (f.duplicateLine?.at === k && f.duplicateLine.kind === 'conflict')
			yield line.replace(/"(content|text)":"/, '"$1":"A DIFFERENT ANSWER ');
	}
}

/** A server-error result line for the custom_id of `line` (a duplicate fault's first line). */
function errorLineFor(provider: Provider, line: string): string {
	const parsed = JSON.parse(line) as { custom_id?: string; key?: string };
	const customId = parsed.custom_id ?? parsed.key ?? '';
	if (provider === 'gemini')
		return JSON.stringify({
			key: customId,
			error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' },
		});
	if (provider === 'anthropic')
		return JSON.stringify({
			custom_id: customId,
			result: {
				type: 'errored',
				error: { type: 'error', error: { type: 'api_error', message: 'Internal server error' } },
			},
		});
	return JSON.stringify({
		id: `batch_req_dup_${customId}`,
		custom_id: customId,
		response: {
			status_code: 500,
			request_id: `req_dup_${customId}`,
			body: { error: { message: 'The server had an error', type: 'server_error' } },
		},
		error: null,
	});
}
