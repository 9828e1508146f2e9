/**
 * The names of the fault profiles and what each is for: apart from the options they expand
 * to (profiles.ts), so the options type can name a profile without importing the expansion.
 */

export const PROFILE_NAMES = [
	'clean',
	'incident',
	'outage',
	'low-limit',
	'retry-after-hour',
	'no-rate-headers',
	'broken-prompt',
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
	'broken-prompt':
		'after the first 1,000 calls with a schema (`breakSchemaAfter`), every structured answer leaves the first required property out, re-asks too',
};

export function isProfileName(name: string): name is ProfileName {
	return (PROFILE_NAMES as readonly string[]).includes(name);
}
