/**
 * The re-ask turn (Max Re-Asks, and the workflow loop of core/call/input.ts `reaskFromItem`):
 * the rejected answer goes back as the assistant turn and a short user turn lists what is
 * wrong. Every token here is paid on top of the prompt, which the conversation sends again,
 * so both are kept compact: one line per problem (path and what is allowed), the answer as
 * minified JSON, a non-JSON answer cut to a bounded length.
 */
import { extractJson } from '../schema';
import type { ErrorCode, Issue } from '../types';

/** How the user turn of a re-ask starts (the sandbox recognises a re-ask by it). */
export const REASK_HEAD = 'Invalid answer:';
/** At most this many problems are listed (the rest are the same kind of mistake). */
const MAX_ISSUES = 20;
/** A rejected answer that is not JSON is re-sent up to this many characters. */
export const MAX_REASK_ANSWER_CHARS = 1000;
/** An error message without issues (malformed output) is cut to this many characters. */
const MAX_MESSAGE_CHARS = 200;

const ENUM_PREFIX = 'must be equal to one of the allowed values: ';

/** One short line per issue: `/priority: one of "low", "high"`, `/category: missing`. */
function issueLine(issue: Issue): string {
	const path = issue.path || '/';
	switch (issue.code) {
		case 'required':
			return `${path}: missing`;
		case 'additionalProperties':
			return `${path}: not allowed`;
		case 'enum':
			if (issue.message.startsWith(ENUM_PREFIX))
				return `${path}: one of ${issue.message.slice(ENUM_PREFIX.length)}`;
			return `${path}: ${issue.message}`;
		default:
			return `${path}: ${issue.message}`;
	}
}

/** The user turn of a re-ask: the validation errors and what to return. */
export function reaskMessage(error: {
	code: ErrorCode;
	message: string;
	issues?: Issue[];
}): string {
	const problems =
		error.issues && error.issues.length > 0
			? error.issues.slice(0, MAX_ISSUES).map(issueLine).join('\n')
			: error.message.length > MAX_MESSAGE_CHARS
				? `${error.message.slice(0, MAX_MESSAGE_CHARS)}…`
				: error.message;
	return `${REASK_HEAD}\n${problems}\nReply with the corrected JSON only.`;
}

/**
 * The assistant turn of a re-ask: the rejected answer as minified JSON when it holds JSON
 * (a pretty-printed or fenced answer costs several times its minified size), else its first
 * MAX_REASK_ANSWER_CHARS characters (enough for the model to see what it said).
 */
export function reaskAnswer(text: string, data?: unknown): string {
	if (data !== undefined) return JSON.stringify(data);
	const parsed = extractJson(text);
	if (parsed.ok) return JSON.stringify(parsed.value);
	return text.length > MAX_REASK_ANSWER_CHARS ? `${text.slice(0, MAX_REASK_ANSWER_CHARS)}…` : text;
}
