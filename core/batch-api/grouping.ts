/**
 * Records per Request in a provider batch: the same packing and grouped prompt as LLM Batch
 * Call (core/call/group-pack.ts, group-answer.ts), one batch request line per pack. Each
 * record keeps its own ledger entry, whose custom ID names the grouped request and the
 * record's place in it (custom-id.ts), so Collect joins a grouped result line to its records;
 * the refs are drawn from the submission's nonce, so Collect makes them again.
 */
import { groupShape, pack, type GroupOptions, type GroupShape } from '../call/group-pack';
import type { ChatRequest } from '../call/providers/types';
import type { RunItem } from '../call/types';
import { NONCE_LENGTH, customIdFor, groupCustomIdFor, groupRef, memberCustomId } from './custom-id';
import { contextWindow } from '../models';
import type { BatchApi } from './types';

/** How a Submit packs records into grouped requests. */
export interface BatchGrouping {
	/** Most records in one request (>= 2 to group at all). */
	readonly recordsPerRequest: number;
	/** Most estimated record tokens in one request; 0 = no token budget. @default 0 */
	readonly maxTokensPerRequest?: number;
	/** Structured output: each record's answer must match this schema. */
	readonly schema?: Record<string, unknown>;
	/** The model's context window; 0 = the model's known window. @default 0 */
	readonly contextWindow?: number;
}

/** What a request line is made of: one record, or the records of one grouped request. */
export interface UnitMember {
	recordId: string;
	promptHash: string;
	request: ChatRequest;
	/** Sent alone whatever the grouping: its grouped answer could not be attributed before. */
	alone?: boolean;
}

/** Records one request carries (one: a record's own request). */
export type Unit<T extends UnitMember> = T[];

const asRunItem = (m: UnitMember, index: number): RunItem => ({
	index,
	recordId: m.recordId,
	request: m.request,
	inputTokens: 0,
	promptHash: m.promptHash,
});

function optionsOf(g: BatchGrouping, nonce: string, model: string): GroupOptions {
	return {
		recordsPerRequest: g.recordsPerRequest,
		maxTokensPerRequest: g.maxTokensPerRequest ?? 0,
		schema: g.schema,
		contextWindow: contextWindow(model, g.contextWindow ?? 0),
		ref: (recordId) => groupRef(nonce, recordId),
	};
}

/**
 * The request lines of a submission, in input order: consecutive records packed as LLM Batch
 * Call packs them; a record marked `alone` (and any pack of one) goes in a line of its own.
 */
export function planUnits<T extends UnitMember>(
	members: readonly T[],
	grouping: BatchGrouping | undefined,
): Array<Unit<T>> {
	if (!grouping || grouping.recordsPerRequest < 2) return members.map((m) => [m]);
	if (members.length === 0) return [];
	const opts = optionsOf(grouping, '0'.repeat(NONCE_LENGTH), members[0].request.model);
	const shape = groupShape(opts);
	const byItem = new Map<RunItem, T>();
	const units: Array<Unit<T>> = [];
	let run: RunItem[] = [];
	const flush = () => {
		for (const p of pack(run, opts, shape)) units.push(p.map((i) => byItem.get(i)!));
		run = [];
	};
	members.forEach((m, i) => {
		if (m.alone) {
			flush();
			units.push([m]);
			return;
		}
		const item = asRunItem(m, i);
		byItem.set(item, m);
		run.push(item);
	});
	flush();
	return units;
}

/** The request of a grouped unit (refs from `nonce`): what LLM Batch Call would send for it. */
export function groupRequest(shape: GroupShape, unit: readonly UnitMember[]): ChatRequest {
	return shape.makeGroup(unit.map(asRunItem)).run.request;
}

/**
 * Builds the lines and the entries' custom IDs of one submission: a unit of one record is its
 * own request under its own custom_id; a grouped unit is the grouped request under the
 * group's custom_id (`seq` = its position in the submission), each record's entry under
 * `<group custom_id>~<position>`.
 */
export function unitLines(api: BatchApi, grouping: BatchGrouping | undefined) {
	const shapes = new Map<string, GroupShape>();
	const shapeFor = (nonce: string, model: string) => {
		let s = shapes.get(nonce);
		if (!s) {
			s = groupShape(optionsOf(grouping ?? { recordsPerRequest: 2 }, nonce, model));
			shapes.set(nonce, s);
		}
		return s;
	};
	return {
		line(unit: readonly UnitMember[], nonce: string, seq: number): string {
			if (unit.length === 1)
				return api.requestLine(customIdFor(nonce, unit[0].recordId), unit[0].request);
			const request = groupRequest(shapeFor(nonce, unit[0].request.model), unit);
			return api.requestLine(groupCustomIdFor(nonce, seq, unit.length), request);
		},
		entryCustomIds(unit: readonly UnitMember[], nonce: string, seq: number): string[] {
			if (unit.length === 1) return [customIdFor(nonce, unit[0].recordId)];
			const group = groupCustomIdFor(nonce, seq, unit.length);
			return unit.map((_, k) => memberCustomId(group, k));
		},
	};
}
