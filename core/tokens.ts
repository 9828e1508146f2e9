/**
 * Token counting — the package's one estimator and its one exact counter.
 *
 * `estimateTokens` is what every hot path uses (LLM Batch Call's limiter charge and context
 * check, Batch Prepare for models without a public tokenizer): one pass over the text, linear,
 * by character class, tuned never to fall well under the real count of either OpenAI
 * vocabulary — so CJK text (about a token per character in cl100k and Claude) and code (a
 * token per symbol or two) are not undercharged the way `chars / 4` undercharges them.
 *
 * `countTokens` is exact for OpenAI-family models with gpt-tokenizer (the same BPE ranks as
 * tiktoken): `o200k_base` for the GPT-4o / GPT-4.1 / GPT-5 / o-series generation,
 * `cl100k_base` for GPT-4, GPT-3.5 and the embedding models. BPE over one long piece without
 * spaces (base64, minified code, CJK) grows quadratically, so the text goes to the tokenizer
 * in chunks of at most `TOKENIZER_CHUNK` characters, cut at whitespace where there is some:
 * linear overall (~60-80 ms per MB), and off by at most a token or two per chunk. Other
 * providers do not publish their tokenizers (Anthropic's counting is an API call): for them
 * the count is `estimateTokens`.
 */

export type TokenizerName = 'o200k_base' | 'cl100k_base' | 'approx';

/** Longest text handed to the BPE tokenizer in one call. */
export const TOKENIZER_CHUNK = 2000;

// Weights per UTF-16 unit, fitted on prose, code, base64, CJK and Cyrillic samples against
// o200k_base and cl100k_base (test/core/tokens.test.ts keeps them at 0.9-2.5x the real count).
const W_LETTER = 0.27;
const W_DIGIT = 0.34;
/** A switch lower->upper or letter<->digit inside a word (identifiers, base64, hashes). */
const W_SWITCH = 0.6;
const W_PUNCT = 0.8;
const W_SPACE = 0.1;
const W_CJK = 1.0;
const W_OTHER = 0.5;

function isCjk(c: number): boolean {
	return (
		(c >= 0x3040 && c <= 0x30ff) || // Hiragana, Katakana
		(c >= 0x3400 && c <= 0x4dbf) || // CJK Extension A
		(c >= 0x4e00 && c <= 0x9fff) || // CJK Unified Ideographs
		(c >= 0xac00 && c <= 0xd7af) || // Hangul syllables
		(c >= 0xf900 && c <= 0xfaff) || // CJK compatibility ideographs
		(c >= 0xff00 && c <= 0xffef) // full-width forms
	);
}

/**
 * Estimated tokens of `text` for any model: one linear pass, no tokenizer. Errs towards more
 * tokens for text BPE handles badly (CJK, symbols, random strings), so rate budgets hold.
 */
export function estimateTokens(text: string): number {
	let sum = 0;
	// 0 none, 1 lower, 2 upper, 3 digit: the class of the previous character inside a word.
	let prev = 0;
	let wordLen = 0;
	for (let i = 0; i < text.length; i++) {
		const c = text.charCodeAt(i);
		const cls = c >= 97 && c <= 122 ? 1 : c >= 65 && c <= 90 ? 2 : c >= 48 && c <= 57 ? 3 : 0;
		if (cls !== 0) {
			sum += cls === 3 ? W_DIGIT : W_LETTER;
			// A capital starting a word (`Hello`) is no switch; any other change of class is.
			if (prev !== 0 && prev !== cls && !(prev === 2 && cls === 1 && wordLen === 1))
				sum += W_SWITCH;
			wordLen++;
		} else {
			wordLen = 0;
			if (c === 32 || c === 9 || c === 10 || c === 13) sum += W_SPACE;
			else if (c < 128) sum += W_PUNCT;
			else if (isCjk(c)) sum += W_CJK;
			else sum += W_OTHER;
		}
		prev = cls;
	}
	return Math.ceil(sum);
}

/**
 * Input tokens of a structured answer's JSON Schema, which the providers bill as input (Gemini
 * says so, and that a token is about 4 characters). A schema is short keywords between `":{"`
 * runs that every BPE vocabulary merges: o200k_base counts the examples' schemas at 0.92-0.97 ×
 * their UTF-8 bytes / 4 (the invoice schema: 446 bytes, 108 tokens), while `estimateTokens`,
 * tuned for text BPE handles badly, says twice that (215). Bytes, not characters, so a schema
 * with non-Latin descriptions is not undercounted.
 */
export function jsonSchemaTokens(schema: unknown): number {
	return Math.ceil(Buffer.byteLength(JSON.stringify(schema)) / 4);
}

interface Encoding {
	countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
}

// User data may contain strings like `<|endoftext|>`; count them as plain text instead of
// letting the tokenizer throw "Disallowed special token".
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

// Loaded lazily: each encoding's rank table is a few MB and takes ~100-200 ms to load, and
// most runs need at most one of them.
const encodings: Partial<Record<Exclude<TokenizerName, 'approx'>, Encoding>> = {};

function loadEncoding(name: Exclude<TokenizerName, 'approx'>): Encoding {
	let encoding = encodings[name];
	if (!encoding) {
		// The package's `exports` map exposes the CommonJS build under `cjs/*`; a synchronous
		// require keeps countTokens synchronous for the per-item hot path.
		/* eslint-disable @typescript-eslint/no-require-imports */
		encoding =
			name === 'o200k_base'
				? (require('gpt-tokenizer/cjs/encoding/o200k_base') as Encoding)
				: (require('gpt-tokenizer/cjs/encoding/cl100k_base') as Encoding);
		/* eslint-enable @typescript-eslint/no-require-imports */
		encodings[name] = encoding;
	}
	return encoding;
}

/** `openai/gpt-4o` and `GPT-4o` name the same model. */
function baseModelName(model: string): string {
	const lower = model.trim().toLowerCase();
	const slash = lower.lastIndexOf('/');
	return slash >= 0 ? lower.slice(slash + 1) : lower;
}

/** Which tokenizer counts `model`'s tokens. */
export function tokenizerFor(model: string): TokenizerName {
	const m = baseModelName(model);
	if (
		m.startsWith('gpt-4o') ||
		m.startsWith('gpt-4.1') ||
		m.startsWith('gpt-4.5') ||
		m.startsWith('gpt-5') ||
		m.startsWith('gpt-oss') ||
		m.startsWith('chatgpt-') ||
		/^o[1-9](-|$)/.test(m)
	) {
		return 'o200k_base';
	}
	if (m.startsWith('gpt-4') || m.startsWith('gpt-3.5') || m.startsWith('text-embedding-')) {
		return 'cl100k_base';
	}
	// Any other gpt-* model is a newer OpenAI one; o200k_base is the current family.
	if (m.startsWith('gpt-')) return 'o200k_base';
	return 'approx';
}

/** Where the chunk starting at `start` ends: at whitespace when possible, never inside a surrogate pair. */
function chunkEnd(text: string, start: number): number {
	const hard = start + TOKENIZER_CHUNK;
	if (hard >= text.length) return text.length;
	for (let i = hard; i > start + TOKENIZER_CHUNK / 2; i--) {
		const c = text.charCodeAt(i);
		if (c === 32 || c === 10 || c === 9 || c === 13) return i;
	}
	const c = text.charCodeAt(hard - 1);
	return c >= 0xd800 && c <= 0xdbff ? hard - 1 : hard;
}

/**
 * Token count of `text` for `model`: exact (to a token or two per 2,000 characters) for
 * OpenAI-family models, `estimateTokens` otherwise. Linear in the text's length.
 */
export function countTokens(text: string, model: string): number {
	if (text.length === 0) return 0;
	const tokenizer = tokenizerFor(model);
	if (tokenizer === 'approx') return estimateTokens(text);
	const encoding = loadEncoding(tokenizer);
	if (text.length <= TOKENIZER_CHUNK) return encoding.countTokens(text, PLAIN_TEXT);
	let total = 0;
	for (let start = 0; start < text.length; ) {
		const end = chunkEnd(text, start);
		total += encoding.countTokens(text.slice(start, end), PLAIN_TEXT);
		start = end;
	}
	return total;
}
