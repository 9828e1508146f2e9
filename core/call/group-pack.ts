/**
 * How records become grouped requests (Records per Request): consecutive records with the
 * same system prompt packed by count, token budget and the model's context window, and each
 * pack made one request — the records with their refs, the group instructions, the answer
 * schema, estimated as a single record's prompt is.
 */
import { randomBytes } from 'node:crypto';

import {
	GROUP_INSTRUCTIONS_TEXT,
	groupPrompt,
	groupSchema,
	recordTokens,
	type Group,
} from './group-answer';
import type { RunItem } from './types';
import type { Checkpoint } from '../ledger/types';
import type { SchemaValidator } from '../schema';
import { estimateTokens, jsonSchemaTokens } from '../tokens';

export interface GroupOptions {
	/** Most records in one request (>= 2 to group at all). */
	readonly recordsPerRequest: number;
	/** Most estimated record tokens in one request; 0 = no token budget. */
	readonly maxTokensPerRequest: number;
	/** Structured output: each record's answer must match this schema. */
	readonly schema?: Record<string, unknown>;
	readonly validate?: SchemaValidator;
	/** Largest max output tokens a grouped request asks for. @default 16384 */
	readonly maxOutputTokens?: number;
	/**
	 * The model's context window (input + output tokens): a request is closed before its
	 * estimated prompt plus max output tokens would pass it, so records too long for another
	 * model's window (handed down the fallback chain) are grouped as far as this one's allows.
	 * 0 = no check. @default 0
	 */
	readonly contextWindow?: number;
	readonly checkpoint?: Checkpoint;
	/**
	 * A ref per record and request (tests pass a counter; a batch submission draws it from
	 * its nonce and the record ID, so Collect can make it again). @default 4 random bytes
	 */
	readonly ref?: (recordId: string) => string;
}

export type GroupShape = ReturnType<typeof groupShape>;

/** The sizes of a grouped request and how one is made, for `opts`. */
export function groupShape(opts: GroupOptions) {
	let seq = 0;
	const ref = opts.ref ?? (() => randomBytes(4).toString('hex'));
	const outputTokens = (sumMaxTokens: number) =>
		Math.min(opts.maxOutputTokens ?? 16_384, sumMaxTokens);
	const schemaTokens = jsonSchemaTokens(groupSchema(opts.schema));
	// What a grouped request costs besides its records: the system prompt with the group
	// instructions, the answer schema (providers count it as input), the request's framing.
	const groupSystem = (first: RunItem['request']) =>
		`${first.system ? `${first.system}\n\n` : ''}${GROUP_INSTRUCTIONS_TEXT}`;
	const sharedTokens = (first: RunItem) =>
		Math.ceil(groupSystem(first.request).length / 4) + schemaTokens + 8;
	const makeGroup = (members: RunItem[]): Group => {
		const first = members[0].request;
		const m = members.map((item) => ({ item, ref: ref(item.recordId) }));
		const prompt = groupPrompt(
			m.map((x) => ({ id: x.item.recordId, ref: x.ref, text: x.item.request.prompt })),
		);
		const system = groupSystem(first);
		const maxTokens = outputTokens(members.reduce((a, i) => a + i.request.maxTokens, 0));
		// Estimated as a single record's prompt is (core/call/input.ts), the answer schema
		// included: the limiter charges it and the cost meter reserves it at its most.
		const inputTokens = estimateTokens(`${system}\n${prompt}`) + schemaTokens + 8;
		const run: RunItem = {
			index: -1 - seq,
			recordId: `group:${seq++}`,
			request: { ...first, system, prompt, schema: groupSchema(opts.schema), maxTokens },
			inputTokens,
			promptHash: '',
			cachePrefixTokens: members[0].cachePrefixTokens,
			group: true,
			...(opts.checkpoint
				? {
						members: members.map((i) => ({ recordId: i.recordId, promptHash: i.promptHash })),
					}
				: {}),
		};
		return { members: m, run };
	};
	return { outputTokens, sharedTokens, makeGroup };
}

/**
 * Packs consecutive records with the same system prompt, by count and token budget; a record
 * ID already in the group (duplicate IDs in the input) starts a new one.
 */
export function pack(pending: RunItem[], opts: GroupOptions, shape: GroupShape): RunItem[][] {
	const windowTokens = opts.contextWindow ?? 0;
	const packs: RunItem[][] = [];
	let cur: RunItem[] = [];
	let curTokens = 0;
	let curMaxTokens = 0;
	let ids = new Set<string>();
	const close = () => {
		if (cur.length > 0) packs.push(cur);
		cur = [];
		curTokens = 0;
		curMaxTokens = 0;
		ids = new Set();
	};
	for (const item of pending) {
		// A re-ask fed from the workflow is a conversation of its own (its earlier answer and
		// what was wrong with it): sent alone, never as a group's follow-up turn.
		if (item.request.followUp) {
			packs.push([item]);
			continue;
		}
		const t = recordTokens(item);
		const tooLong = () =>
			windowTokens > 0 &&
			shape.sharedTokens(cur[0]) +
				curTokens +
				t +
				shape.outputTokens(curMaxTokens + item.request.maxTokens) >
				windowTokens;
		if (
			cur.length > 0 &&
			(cur.length >= opts.recordsPerRequest ||
				(opts.maxTokensPerRequest > 0 && curTokens + t > opts.maxTokensPerRequest) ||
				tooLong() ||
				ids.has(item.recordId) ||
				cur[0].request.system !== item.request.system)
		)
			close();
		cur.push(item);
		curTokens += t;
		curMaxTokens += item.request.maxTokens;
		ids.add(item.recordId);
	}
	close();
	return packs;
}
