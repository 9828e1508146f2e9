/**
 * The run stamp: every item a run starts with carries its run's ID, the run's item count and
 * its own position, so Batch Report knows when the whole run has arrived however many
 * branches and retry rounds deliver it. A run starts where its items are counted: Batch
 * Prepare for a realtime run, Collect Results for a batch job's poll (the records refused at
 * Submit, or collected by another poll, never reach it).
 */
import { randomBytes } from 'node:crypto';

import { getPath, type Json } from './paths';

export interface BatchRunStamp {
	id: string;
	/** Items the run started with, on every output of the node that stamped them. */
	total: number;
	/** 0-based position of this item among them. */
	seq: number;
	startedAt: string;
}

export interface RunStart {
	id: string;
	startedAt: string;
}

/** A run ID unique across executions: the execution's ID when n8n gives one, and a random tail. */
export function newRunId(executionId: string | undefined): string {
	return `${executionId ?? 'run'}-${randomBytes(4).toString('hex')}`;
}

/** The stamp of item `seq` of a run of `total` items. */
export function runStamp(run: RunStart, total: number, seq: number): BatchRunStamp {
	return { id: run.id, total, seq, startedAt: run.startedAt };
}

/** The stamp `json` carries under `field`, if it is a whole one. */
export function readRunStamp(json: Json, field: string): BatchRunStamp | undefined {
	const stamp = getPath(json, field) as Partial<BatchRunStamp> | undefined;
	if (
		!stamp ||
		typeof stamp.id !== 'string' ||
		typeof stamp.total !== 'number' ||
		typeof stamp.seq !== 'number'
	)
		return undefined;
	return stamp as BatchRunStamp;
}

/**
 * Stamps `jsons` in place as one run of their own, for a run that starts from items an earlier
 * run counted (a poll collecting what a submit prepared): it started when the first of them
 * did, else `now`.
 */
export function stampAsRun(jsons: readonly Json[], field: string, id: string, now: string): void {
	const starts = jsons
		.map((json) => readRunStamp(json, field)?.startedAt)
		.filter((s): s is string => typeof s === 'string')
		.sort();
	const run = { id, startedAt: starts[0] ?? now };
	jsons.forEach((json, seq) => {
		json[field] = runStamp(run, jsons.length, seq);
	});
}
