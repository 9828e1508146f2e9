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

/**
 * How an answer that is not valid JSON or fails the schema is fixed (Fix Invalid Answers By):
 * a re-ask (the prompt again + the answer + the errors) or a fresh call (the prompt again), or
 * whichever is cheaper per answer it makes valid (`cheapest`, the default).
 */
export type FixInvalidBy = 'cheapest' | 'reask' | 'fresh';
export type FixKind = 'reask' | 'fresh';

/** What one fix of one item would cost, in tokens (priced when the model's price is known). */
export interface FixCost {
	/** Input tokens of the item's request without a follow-up turn (the prompt, sent again by both). */
	promptTokens: number;
	/** Input tokens a re-ask adds: the rejected answer and the error lines. */
	reaskExtraTokens: number;
	/** Output tokens the rejected answer took: the next answer is expected to be as long. */
	outputTokens: number;
	/** Prices input and output tokens (USD); without it, tokens count one each. */
	price?: (inputTokens: number, outputTokens: number) => number | undefined;
	/** The request's temperature (unset: the provider's default, 1). */
	temperature?: number;
}

/** Weight of the re-ask prior, in observations: a dozen re-asks outweigh it. */
const REASK_PRIOR_WEIGHT = 2;
/** A re-ask shows the model its mistake: it mostly fixes it (the run's re-asks refine this). */
const REASK_PRIOR = 0.9;
/**
 * Re-asks tried while their best case (as likely to work as the run has shown, counting one
 * more success) is cheaper than a fresh call, so the run learns how well they work. Only
 * re-asks are explored: a fresh call that fails uses up the item's fix, a re-ask rarely does.
 */
const EXPLORE_REASKS = 10;
/**
 * At temperature 0 the same request mostly gets the same answer back, so a fresh call rarely
 * fixes it; at other temperatures it is a new sample, as likely valid as a first answer.
 */
const FRESH_PRIOR_AT_TEMPERATURE_0 = 0.1;
/** How often a first answer is valid before the run has shown it, and the weight of that guess. */
const FIRST_VALID_PRIOR = 0.9;
const FIRST_VALID_PRIOR_WEIGHT = 10;

/**
 * Chooses the fix for each invalid answer by expected cost per answer made valid: cost of the
 * call / chance it comes back valid. The chances start from priors (above) and are learned
 * from the run: how often first answers are valid (what a fresh call at temperature > 0
 * draws), how often each kind of fix worked. A re-ask pays the prompt plus the answer and the
 * errors and nearly always works, so it wins with long prompts and at temperature 0; with a
 * short prompt at temperature 1 a fresh call is cheaper. The arithmetic is a few lines, no
 * library does it: written here.
 */
export class FixChooser {
	private readonly tries: Record<FixKind, number> = { reask: 0, fresh: 0 };
	private readonly fixed: Record<FixKind, number> = { reask: 0, fresh: 0 };
	private firstAnswers = 0;
	private firstValid = 0;

	constructor(readonly by: FixInvalidBy) {}

	/** A first answer of an item was interpreted: valid or not (what a fresh draw yields). */
	firstAnswer(valid: boolean): void {
		this.firstAnswers++;
		if (valid) this.firstValid++;
	}

	/** The answer to a fix came back: it made the answer valid or not. */
	outcome(kind: FixKind, valid: boolean): void {
		this.tries[kind]++;
		if (valid) this.fixed[kind]++;
	}

	/** The chance a fix of this kind comes back valid, as far as the run has shown. */
	chance(kind: FixKind, temperature?: number): number {
		if (kind === 'reask')
			return (
				(this.fixed.reask + REASK_PRIOR_WEIGHT * REASK_PRIOR) /
				(this.tries.reask + REASK_PRIOR_WEIGHT)
			);
		const prior =
			temperature === 0
				? FRESH_PRIOR_AT_TEMPERATURE_0
				: (this.firstValid + FIRST_VALID_PRIOR_WEIGHT * FIRST_VALID_PRIOR) /
					(this.firstAnswers + FIRST_VALID_PRIOR_WEIGHT);
		return (
			(this.fixed.fresh + FIRST_VALID_PRIOR_WEIGHT * prior) /
			(this.tries.fresh + FIRST_VALID_PRIOR_WEIGHT)
		);
	}

	choose(cost: FixCost): FixKind {
		if (this.by !== 'cheapest') return this.by;
		const price = (input: number) =>
			cost.price?.(input, cost.outputTokens) ?? input + cost.outputTokens;
		const reaskCall = price(cost.promptTokens + cost.reaskExtraTokens);
		const fresh = price(cost.promptTokens) / this.chance('fresh', cost.temperature);
		if (reaskCall / this.chance('reask') <= fresh) return 'reask';
		const bestCase = (this.fixed.reask + 1) / (this.tries.reask + 1);
		return this.tries.reask < EXPLORE_REASKS && reaskCall / bestCase < fresh ? 'reask' : 'fresh';
	}
}
