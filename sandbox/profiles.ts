/**
 * Named fault profiles: the conditions the engine must survive, selectable by name from the
 * CLI (`--profile incident`), the demo, the tests and the bench. A profile is only a set of
 * sandbox options; options given beside it win.
 */
import type { SandboxOptions } from './server';

export const PROFILE_NAMES = [
	'clean',
	'incident',
	'outage',
	'low-limit',
	'retry-after-hour',
	'no-rate-headers',
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** What each profile is for (the CLI's `--help` and the README print these). */
export const PROFILE_DESCRIPTIONS: Record<ProfileName, string> = {
	clean: 'no faults; the limits you give',
	incident:
		'16 % mixed transient faults on accepted requests: 5 % 500, 4 % 503, 3 % connection resets, 2 % spurious 429s (remaining budget > 0), 2 % malformed JSON',
	outage:
		'100 % 503 for `outage.durationMs` (60 s) starting `outage.afterMs` (30 s) after the first call',
	'low-limit':
		'the server enforces half of the rpm / tpm you give: a client configured with them is 2x too high',
	'retry-after-hour': '5 % of accepted requests answer 429 with `retry-after: 3600`',
	'no-rate-headers': 'answers carry no x-ratelimit-* / anthropic-ratelimit-* headers',
};

/** Share of accepted requests per transient fault in the incident profile (16 % in all). */
export const INCIDENT_FAULTS = {
	status500: 0.05,
	status503: 0.04,
	reset: 0.03,
	status429: 0.02,
	malformed: 0.02,
} as const;

export function isProfileName(name: string): name is ProfileName {
	return (PROFILE_NAMES as readonly string[]).includes(name);
}

/**
 * Options for `name`, merged under `given` (explicit options win). `low-limit` halves the
 * limits in `given` (1,200 RPM when none is given means a real limit of 600).
 */
export function profileOptions(name: ProfileName, given: SandboxOptions = {}): SandboxOptions {
	switch (name) {
		case 'clean':
			return { ...given };
		case 'incident':
			return { faults: { ...INCIDENT_FAULTS }, ...given };
		case 'outage':
			return { outage: { afterMs: 30_000, durationMs: 60_000 }, ...given };
		case 'low-limit': {
			const rpm = given.rpm ?? 1_200;
			const tpm = given.tpm ?? Infinity;
			return { ...given, rpm: rpm / 2, tpm: tpm / 2 };
		}
		case 'retry-after-hour':
			return { faults: { status429: 0.05 }, fault429RetryAfterMs: 3_600_000, ...given };
		case 'no-rate-headers':
			return { rateHeaders: false, ...given };
	}
}
