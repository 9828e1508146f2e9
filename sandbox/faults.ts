/**
 * Which fault a call gets: forced by a directive in its prompt, else rolled from the
 * configured probabilities (per model when set), kept steady for identical requests at
 * temperature 0; and which fault a grouped answer gets. All rolls are seeded.
 */
import { applyGroupFault, GROUP_FAULT_KINDS, type groupAnswer, type GroupRecord } from './group';
import { requestRng } from './prng';
import type { ParsedCall } from './protocol';
import { promptDigest } from './reply';
import type { SandboxSettings } from './settings';
import type { SandboxState } from './state';
import { FAULT_KINDS, FORCED_FAULT_KINDS, type ForcedFaultKind, type StatsRecorder } from './stats';

const DIRECTIVE = '[[sandbox:';
const FORCED_RE = /\[\[sandbox:([A-Za-z0-9]+)\]\]/;
const FAIL_FIRST_RE = /\[\[sandbox:fail-first:(\d+):([A-Za-z0-9]+)\]\]/;

type GroupAnswer = ReturnType<typeof groupAnswer>;

export type CallFault = ForcedFaultKind | 'unknown' | undefined;

/** The fault a prompt forces on its n-th accepted request, if any ('unknown' for a typo). */
export function forcedFault(prompt: string, n: number): CallFault {
	if (!prompt.includes(DIRECTIVE)) return undefined;
	const ff = FAIL_FIRST_RE.exec(prompt);
	if (ff) {
		if (!(FORCED_FAULT_KINDS as readonly string[]).includes(ff[2])) return 'unknown';
		return n < Number(ff[1]) ? (ff[2] as ForcedFaultKind) : undefined;
	}
	const m = FORCED_RE.exec(prompt);
	if (!m) return 'unknown';
	return (FORCED_FAULT_KINDS as readonly string[]).includes(m[1])
		? (m[1] as ForcedFaultKind)
		: 'unknown';
}

/**
 * The fault of the n-th accepted request of this prompt. `roll` is the request rng's first
 * draw; `rng` draws once more only for a repeated request at temperature 0.
 */
export function pickFault(
	state: SandboxState,
	call: ParsedCall,
	digest: string,
	n: number,
	roll: number,
	rng: () => number,
): CallFault {
	const opts = state.settings;
	if (brokenPrompt(state, call)) return 'schemaViolation';
	let fault = forcedFault(call.prompt, n) ?? rolledFault(opts, call.model, roll);
	if (fault === 'unknown') return fault;
	// A re-ask turn is answered correctly (the model was told what was wrong).
	if (fault === 'schemaViolation' && (call.reask || !call.schema)) fault = undefined;
	if (
		call.temperature === 0 &&
		call.schema &&
		!call.reask &&
		(fault === undefined || fault === 'schemaViolation')
	) {
		// Temperature 0: the identical request mostly gets the identical answer.
		const key = `${call.model}\u0000${digest}`;
		const first = state.firstAnswerAtT0.get(key);
		if (first === undefined) state.firstAnswerAtT0.set(key, fault === 'schemaViolation');
		else if (rng() < opts.sameAnswerAtTemperature0) fault = first ? 'schemaViolation' : undefined;
	}
	return fault;
}

/** `breakSchemaAfter`: past that many calls with a schema, every structured answer breaks it. */
function brokenPrompt(state: SandboxState, call: ParsedCall): boolean {
	const after = state.settings.breakSchemaAfter;
	if (after === undefined || !call.schema) return false;
	return state.schemaCalls++ >= after;
}

function rolledFault(opts: SandboxSettings, model: string, roll: number): CallFault {
	const faults = opts.modelFaults[model] ?? opts.faults;
	let acc = 0;
	for (const k of FAULT_KINDS) {
		acc += faults[k] ?? 0;
		if (roll < acc) return k;
	}
	return undefined;
}

/**
 * A grouped answer with its configured fault applied (counted in `st`). Rolled from the
 * records (not the per-request refs), so a run is reproducible.
 */
export function withGroupFault(
	opts: SandboxSettings,
	st: StatsRecorder,
	records: GroupRecord[],
	answer: GroupAnswer,
): GroupAnswer {
	const groupRng = requestRng(
		opts.seed,
		promptDigest(records.map((r) => `${r.id}\u0000${r.text}`).join('\u0001')),
		0,
	);
	const roll = groupRng();
	const pick = groupRng();
	let acc = 0;
	for (const k of GROUP_FAULT_KINDS) {
		acc += opts.groupFaults[k] ?? 0;
		if (roll < acc) {
			st.groupFaults[k]++;
			return applyGroupFault(answer, k, pick);
		}
	}
	return answer;
}
