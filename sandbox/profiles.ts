/**
 * Named fault profiles: the conditions the engine must survive, selectable by name from the
 * CLI (`--profile incident`), the demo, the tests and the bench. A profile is only a set of
 * sandbox options; options given beside it win.
 */
import type { SandboxOptions } from './options';
import type { ProfileName } from './profile-names';

export { isProfileName, PROFILE_DESCRIPTIONS, PROFILE_NAMES } from './profile-names';
export type { ProfileName } from './profile-names';

/** Share of accepted requests per transient fault in the incident profile (16 % in all). */
export const INCIDENT_FAULTS = {
	status500: 0.05,
	status503: 0.04,
	reset: 0.03,
	status429: 0.02,
	malformed: 0.02,
} as const;

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
		case 'broken-prompt':
			return { breakSchemaAfter: 1000, ...given };
	}
}
