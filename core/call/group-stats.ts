/**
 * What became of the records sent in groups (Records per Request): counted per run and model,
 * added up across waves and models, and said in the run summary.
 */

/** What became of the records sent in groups (for the hint and the bench). */
export interface GroupStats {
	/** Grouped requests made: `groupsAnswered + splits + groupsFailed + groupsUnsent`. */
	groups: number;
	/** Grouped requests whose answer was split into records. */
	groupsAnswered: number;
	/** Grouped requests that ended failed: their records failed (or went to the next model). */
	groupsFailed: number;
	/** Grouped requests not sent: another execution of the job took over one of their records. */
	groupsUnsent: number;
	/** Records answered from a grouped request. */
	answered: number;
	/** Records sent again alone, by reason. */
	alone: Record<'missing' | 'duplicated' | 'mismatched' | 'invalid', number>;
	/** Keys in answers that named no record of the request (ignored). */
	unsentIds: number;
	/** Groups whose answer could not be used at all and were split. */
	splits: number;
}

export function emptyGroupStats(): GroupStats {
	return {
		groups: 0,
		groupsAnswered: 0,
		groupsFailed: 0,
		groupsUnsent: 0,
		answered: 0,
		alone: { missing: 0, duplicated: 0, mismatched: 0, invalid: 0 },
		unsentIds: 0,
		splits: 0,
	};
}

/** The grouped requests of several runs (one model's waves, or a model's second run). */
export function addGroupStats(a: GroupStats, b: GroupStats): GroupStats {
	return {
		groups: a.groups + b.groups,
		groupsAnswered: a.groupsAnswered + b.groupsAnswered,
		groupsFailed: a.groupsFailed + b.groupsFailed,
		groupsUnsent: a.groupsUnsent + b.groupsUnsent,
		answered: a.answered + b.answered,
		alone: {
			missing: a.alone.missing + b.alone.missing,
			duplicated: a.alone.duplicated + b.alone.duplicated,
			mismatched: a.alone.mismatched + b.alone.mismatched,
			invalid: a.alone.invalid + b.alone.invalid,
		},
		unsentIds: a.unsentIds + b.unsentIds,
		splits: a.splits + b.splits,
	};
}

/**
 * The run summary's part on grouping: per model (named when there are several), the grouped
 * requests made and what became of them — answered (and the records answered from them),
 * failed, split after an unusable answer, not sent — which add up to the requests made; then
 * the records sent again alone. Models that made no grouped request are left out.
 */
export function formatGroupSummary(
	byModel: ReadonlyArray<{ model: string; stats: GroupStats }>,
): string {
	const used = byModel.filter((m) => m.stats.groups > 0);
	const part = (g: GroupStats) => {
		const out = [
			`${g.groups} sent`,
			`${g.groupsAnswered} answered (${g.answered} record${g.answered === 1 ? '' : 's'})`,
		];
		if (g.groupsFailed > 0) out.push(`${g.groupsFailed} failed`);
		if (g.splits > 0) out.push(`${g.splits} split (answer unusable)`);
		if (g.groupsUnsent > 0) out.push(`${g.groupsUnsent} not sent (record taken over)`);
		return out.join(', ');
	};
	const again = used.reduce(
		(a, m) => a + Object.values(m.stats.alone).reduce((x, y) => x + y, 0),
		0,
	);
	const requests =
		byModel.length > 1
			? used.map((m) => `${m.model} ${part(m.stats)}`).join('; ')
			: used.map((m) => part(m.stats)).join('');
	return `grouped requests: ${requests || 'none'}; ${again} record${again === 1 ? '' : 's'} sent again alone`;
}
