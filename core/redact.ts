/**
 * Secrets never leave the credential: everything a provider error carries (message, request
 * ID, issues) is scrubbed of the credential's own values and of the shapes API keys usually
 * have, before it becomes an item error, a hint, a log line or a stored ledger row.
 */

export const REDACTED = '[redacted]';

/**
 * Key shapes providers use (and echo back, whole or masked): OpenAI `sk-…` / `sk-proj-…`,
 * Anthropic `sk-ant-…`, Google (Gemini) `AIza…` (39 characters), bearer tokens, and
 * `user:password@` in URLs.
 */
const KEY_PATTERNS: readonly RegExp[] = [
	/\bAIza[A-Za-z0-9_-]{30,}/g,
	/\bsk-ant-[A-Za-z0-9_*-]{6,}/g,
	/\bsk-[A-Za-z0-9_*-]{6,}/g,
	/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=*-]{8,}/gi,
	/(\/\/)[^/\s:@]+:[^/\s@]+@/g,
];

/** What each of KEY_PATTERNS contains: a text without any of these has no key shape. */
const MAY_HOLD_KEY = /sk-|aiza|bearer|basic|@/i;

/** Values shorter than this are not searched for verbatim (a key "x" for a local server). */
const MIN_SECRET_LENGTH = 6;

/** `text` with every secret value and key-shaped string replaced by `[redacted]`. Linear in its length. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
	let out = text;
	for (const secret of secrets) {
		if (secret.length >= MIN_SECRET_LENGTH && out.includes(secret))
			out = out.split(secret).join(REDACTED);
	}
	// Every pattern needs one of these: most texts (request IDs, answers) skip the five scans.
	if (!MAY_HOLD_KEY.test(out)) return out;
	for (const pattern of KEY_PATTERNS) {
		out = out.replace(pattern, (match, first: string | undefined) =>
			first === '//'
				? `//${REDACTED}@`
				: first && /^(bearer|basic)$/i.test(first)
					? `${first} ${REDACTED}`
					: REDACTED,
		);
	}
	return out;
}
