/**
 * A grouped request's result line (Records per Request) split into its records, as LLM Batch
 * Call splits a grouped answer (core/call/group-answer.ts `splitAnswer`): an answer is a
 * record's only under its record ID, exactly once, with its ref (and valid against the
 * schema); its usage is shared out so the records' costs add up to what the line cost. A
 * record not answered beyond doubt fails here, retryable, carrying its share of the cost; the
 * next Submit or Resubmit sends it alone (submit.ts).
 */
import { LlmBatchError } from '../call/errors';
import {
	groupSchema,
	recordTokens,
	splitAnswer,
	splitUsage,
	type Group,
} from '../call/group-answer';
import type { GroupStats } from '../call/group-stats';
import { interpretAnswer, type AnswerPolicy } from '../call/interpret';
import type { RunItem } from '../call/types';
import type { SchemaValidator } from '../schema';
import type { ItemError, LlmResult, Usage } from '../types';
import { NONCE_LENGTH, groupRef, groupSizeOf, memberCustomId } from './custom-id';
import type { JobContext } from './job-context';
import { unpackRequest } from './payload';
import type { AnswerEntry } from './store/batches';
import type { BatchResultLine } from './types';

/** What one result line says about one record. */
export type Judged =
	| { ok: true; result: LlmResult & { batchId: string } }
	| {
			ok: false;
			error: ItemError;
			/** Two different answers came: decided for good, further lines change nothing. */
			conflict?: boolean;
	  };

/** The ledger custom IDs a result line's custom_id stands for: a grouped request's members, or itself. */
export function entryIdsOf(customId: string): string[] {
	const size = groupSizeOf(customId);
	if (size === undefined) return [customId];
	return Array.from({ length: size }, (_, k) => memberCustomId(customId, k));
}

/** Why a record's grouped answer was not its own, as the error says it. */
const REASON: Record<keyof GroupStats['alone'], string> = {
	missing: 'left this record out',
	duplicated: 'answered this record twice',
	mismatched: "carried another record's ref under this record's ID",
	invalid: 'gave this record an answer that does not match the schema',
};

export interface GroupLine {
	line: BatchResultLine & { ok: true };
	/** The records of the request, in their places (a record resubmitted since is left out). */
	members: AnswerEntry[];
	/** Each member's prompt (its share of the usage goes by its length). */
	promptOf: (recordId: string) => string;
	batchId: string;
	latencyMs: number;
}

/**
 * Each member's verdict on a grouped answer. `policy` reads the answer (cost at the batch
 * price); `record` validates one record's answer against its schema.
 */
export function judgeGroupLine(
	g: GroupLine,
	policy: AnswerPolicy,
	record: { schema?: Record<string, unknown>; validate?: SchemaValidator },
	gs: GroupStats,
): Array<{ entry: AnswerEntry; judged: Judged }> {
	gs.groups++;
	const first = g.members[0];
	const nonce = g.line.customId.slice(0, NONCE_LENGTH);
	const model = first.answer.model;
	const items = g.members.map(
		(entry): RunItem => ({
			index: entry.itemIndex,
			recordId: entry.recordId,
			request: { model, prompt: g.promptOf(entry.recordId), maxTokens: first.answer.maxTokens },
			inputTokens: 0,
			promptHash: entry.promptHash,
		}),
	);
	const group: Group = {
		members: items.map((item) => ({ item, ref: groupRef(nonce, item.recordId) })),
		run: {
			index: -1,
			recordId: g.line.customId,
			request: {
				model,
				prompt: '',
				maxTokens: first.answer.maxTokens,
				schema: groupSchema(record.schema),
			},
			inputTokens: 0,
			promptHash: '',
			group: true,
		},
	};
	let result: LlmResult;
	try {
		result = interpretAnswer(
			policy,
			{ ...group.run, request: group.run.request },
			g.line.response,
			first.round,
			g.latencyMs,
		);
	} catch (e) {
		// The answer as a whole is unusable: every record fails with its code and goes again
		// alone, carrying its share of what the request cost (by prompt length, as answers share it).
		const err = e instanceof LlmBatchError ? e : new LlmBatchError('malformed_output', String(e));
		gs.groupsFailed++;
		const weights = items.map(recordTokens);
		const shares = splitUsage(g.line.response.usage, weights, weights);
		return g.members.map((entry, k) => {
			const cost = policy.costOf?.(model, shares[k]);
			const error: ItemError = {
				...err.toItemError(entry.round),
				retryable: true,
				usage: shares[k],
				...(cost === undefined ? {} : { costUsd: cost }),
			};
			return { entry, judged: { ok: false, error } };
		});
	}
	gs.groupsAnswered++;
	const split = splitAnswer(group, result, record, gs, policy.costOf ?? (() => undefined));
	const byId = new Map(g.members.map((e) => [e.recordId, e]));
	const out: Array<{ entry: AnswerEntry; judged: Judged }> = [];
	for (const [item, r] of split.accepted) {
		const entry = byId.get(item.recordId)!;
		// Each record's own submissions, as a record sent alone counts them.
		const result = { ...r, attempts: entry.round, batchId: g.batchId };
		out.push({ entry, judged: { ok: true, result } });
	}
	for (const [item, again, reason] of split.again) {
		const entry = byId.get(item.recordId)!;
		const error = unattributed(entry, again.priorUsage, reason, g, policy, model);
		out.push({ entry, judged: { ok: false, error } });
	}
	return out;
}

function unattributed(
	entry: AnswerEntry,
	share: Usage | undefined,
	reason: keyof GroupStats['alone'],
	g: GroupLine,
	policy: AnswerPolicy,
	model: string,
): ItemError {
	const usage: Usage = share ?? { inputTokens: 0, outputTokens: 0 };
	const cost = policy.costOf?.(model, usage);
	return {
		code: reason === 'invalid' ? 'schema_violation' : 'malformed_output',
		message: `The grouped answer (${g.members.length} records in one request) ${REASON[reason]}: its answer cannot be attributed beyond doubt, so none is published. Its share of the request was paid; the next Submit (or Resubmit Failed) sends it again alone.`,
		retryable: true,
		attempts: entry.round,
		provider: policy.provider,
		usage,
		...(cost === undefined ? {} : { costUsd: cost }),
	};
}

/**
 * The prompts of the records that grouped lines of a chunk answer (read from the ledger, only
 * for grouped lines): a grouped request's usage is shared out by its records' prompt lengths,
 * as LLM Batch Call shares it.
 */
export async function groupedPrompts(
	ctx: Pick<JobContext, 'batches' | 'job'>,
	lines: readonly BatchResultLine[],
	entries: Map<string, AnswerEntry>,
): Promise<Map<string, string>> {
	const ids = lines
		.filter((l) => l.ok && groupSizeOf(l.customId) !== undefined)
		.flatMap((l) => entryIdsOf(l.customId).flatMap((id) => entries.get(id)?.recordId ?? []));
	const out = new Map<string, string>();
	if (ids.length === 0) return out;
	const full = await ctx.batches.entries(ctx.job, ids);
	for (const [id, e] of full) out.set(id, unpackRequest(e.request, JSON.parse(e.item)).prompt);
	return out;
}
