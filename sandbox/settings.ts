/**
 * Sandbox options resolved against the defaults (or the running settings, for
 * `configure`) and checked: a bad option throws before the sandbox changes.
 */
import { checkFlex, DEFAULT_FLEX, type FlexSettings } from './flex';
import { GROUP_FAULT_KINDS, type GroupFaultKind } from './group';
import type { SandboxOptions } from './options';
import { isProfileName } from './profile-names';
import { profileOptions } from './profiles';
import { FAULT_KINDS, type FaultKind } from './stats';

export interface SandboxSettings {
	rpm: number;
	tpm: number;
	burstSeconds: number;
	latencyMs: { min: number; max: number };
	faults: Partial<Record<FaultKind, number>>;
	seed: number;
	apiKeys?: string[];
	quotaExhausted: boolean;
	hangMs: number;
	now: () => number;
	groupFaults: Partial<Record<GroupFaultKind, number>>;
	modelFaults: Record<string, Partial<Record<FaultKind, number>>>;
	modelMisses: Record<string, number>;
	outage?: { afterMs: number; durationMs: number };
	fault429RetryAfterMs: number;
	sameAnswerAtTemperature0: number;
	rateHeaders: boolean;
	strictModels: boolean;
	flex: FlexSettings;
	breakSchemaAfter?: number;
}

/** `given` over `base` (the running settings) over the defaults, checked. */
export function resolveSettings(given: SandboxOptions, base?: SandboxSettings): SandboxSettings {
	if (given.profile !== undefined && !isProfileName(given.profile))
		throw new Error(`Unknown sandbox profile ${String(given.profile)}`);
	const o = given.profile ? profileOptions(given.profile, given) : given;
	const r: SandboxSettings = {
		rpm: o.rpm ?? base?.rpm ?? Infinity,
		tpm: o.tpm ?? base?.tpm ?? Infinity,
		burstSeconds: o.burstSeconds ?? base?.burstSeconds ?? 1,
		latencyMs: o.latencyMs ?? base?.latencyMs ?? { min: 0, max: 0 },
		faults: o.faults ?? base?.faults ?? {},
		seed: o.seed ?? base?.seed ?? 1,
		apiKeys: 'apiKeys' in o ? o.apiKeys : base?.apiKeys,
		quotaExhausted: o.quotaExhausted ?? base?.quotaExhausted ?? false,
		hangMs: o.hangMs ?? base?.hangMs ?? 120_000,
		now: o.now ?? base?.now ?? Date.now,
		groupFaults: o.groupFaults ?? base?.groupFaults ?? {},
		modelFaults: o.modelFaults ?? base?.modelFaults ?? {},
		modelMisses: o.modelMisses ?? base?.modelMisses ?? {},
		outage: 'outage' in o ? o.outage : base?.outage,
		fault429RetryAfterMs: o.fault429RetryAfterMs ?? base?.fault429RetryAfterMs ?? 1000,
		sameAnswerAtTemperature0: o.sameAnswerAtTemperature0 ?? base?.sameAnswerAtTemperature0 ?? 0.9,
		rateHeaders: o.rateHeaders ?? base?.rateHeaders ?? true,
		strictModels: o.strictModels ?? base?.strictModels ?? false,
		flex: { ...DEFAULT_FLEX, ...base?.flex, ...o.flex },
		breakSchemaAfter: 'breakSchemaAfter' in o ? o.breakSchemaAfter : base?.breakSchemaAfter,
	};
	checkFlex(r.flex);
	checkFaultTables(r);
	checkValues(r);
	return r;
}

/** The settings as `POST /sandbox/config` echoes them: Infinity becomes null in JSON; keys are never echoed. */
export function publicSettings(s: SandboxSettings): Record<string, unknown> {
	const { now: _now, apiKeys, ...rest } = s;
	return { ...rest, apiKeys: apiKeys ? apiKeys.length : undefined };
}

const isProbability = (p: unknown) => typeof p === 'number' && p >= 0 && p <= 1;

function checkFaultTables(r: SandboxSettings): void {
	for (const [model, faults] of Object.entries(r.modelFaults)) {
		for (const [k, p] of Object.entries(faults)) {
			if (!(FAULT_KINDS as readonly string[]).includes(k) || !isProbability(p))
				throw new Error(
					`Expected \`modelFaults.${model}\` to map ${FAULT_KINDS.join(', ')} to probabilities in [0, 1], got ${k}: ${p}`,
				);
		}
	}
	for (const [model, p] of Object.entries(r.modelMisses)) {
		if (!isProbability(p))
			throw new Error(`Expected \`modelMisses.${model}\` to be a share in [0, 1], got ${p}`);
	}
	for (const [k, p] of Object.entries(r.groupFaults)) {
		if (!(GROUP_FAULT_KINDS as readonly string[]).includes(k))
			throw new Error(
				`Expected \`groupFaults\` keys to be one of ${GROUP_FAULT_KINDS.join(', ')}, got ${k}`,
			);
		if (!isProbability(p))
			throw new Error(`Expected \`groupFaults.${k}\` to be a probability in [0, 1], got ${p}`);
	}
}

/** In this order (after the fault tables), so a bad configuration names the same option first. */
function checkValues(r: SandboxSettings): void {
	if (r.outage && !(r.outage.afterMs >= 0 && r.outage.durationMs >= 0)) {
		throw new Error(
			`Expected \`outage\` to be { afterMs >= 0, durationMs >= 0 }, got ${JSON.stringify(r.outage)}`,
		);
	}
	if (!(r.sameAnswerAtTemperature0 >= 0 && r.sameAnswerAtTemperature0 <= 1))
		throw new Error(
			`Expected \`sameAnswerAtTemperature0\` to be a probability in [0, 1], got ${r.sameAnswerAtTemperature0}`,
		);
	if (!(r.fault429RetryAfterMs >= 0))
		throw new Error(`Expected \`fault429RetryAfterMs\` to be >= 0, got ${r.fault429RetryAfterMs}`);
	if (!(r.latencyMs.min >= 0 && r.latencyMs.max >= r.latencyMs.min)) {
		throw new Error(
			`Expected \`latencyMs\` to be { min >= 0, max >= min }, got ${JSON.stringify(r.latencyMs)}`,
		);
	}
	for (const [k, p] of Object.entries(r.faults)) {
		if (!(FAULT_KINDS as readonly string[]).includes(k))
			throw new Error(`Expected \`faults\` keys to be one of ${FAULT_KINDS.join(', ')}, got ${k}`);
		if (!isProbability(p))
			throw new Error(`Expected \`faults.${k}\` to be a probability in [0, 1], got ${p}`);
	}
	if (!(r.hangMs >= 0)) throw new Error(`Expected \`hangMs\` to be >= 0, got ${r.hangMs}`);
	const k = r.breakSchemaAfter;
	if (k !== undefined && !(k >= 0 && (Number.isInteger(k) || k === Infinity)))
		throw new Error(`Expected \`breakSchemaAfter\` to be an integer >= 0, got ${k}`);
}
