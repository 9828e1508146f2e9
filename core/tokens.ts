/**
 * Token counting for estimates and token-budget chunking.
 *
 * OpenAI-family models are counted with gpt-tokenizer (the same BPE ranks as tiktoken):
 * `o200k_base` for the GPT-4o / GPT-4.1 / GPT-5 / o-series generation, `cl100k_base` for
 * GPT-4, GPT-3.5 and the text-embedding models. Other providers do not publish their
 * tokenizers (Anthropic's counting is an API call), so for them the count is the documented
 * approximation `ceil(chars / 3.5)` — English prose averages ~3.5-4 characters per token,
 * and erring towards more tokens keeps estimates and budgets on the safe side.
 */

export type TokenizerName = 'o200k_base' | 'cl100k_base' | 'approx';

/** Characters per token assumed for models without a public tokenizer. */
export const APPROX_CHARS_PER_TOKEN = 3.5;

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

/** Token count of `text` for `model` (exact for OpenAI-family models, approximate otherwise). */
export function countTokens(text: string, model: string): number {
	if (text.length === 0) return 0;
	const tokenizer = tokenizerFor(model);
	if (tokenizer === 'approx') return Math.ceil(text.length / APPROX_CHARS_PER_TOKEN);
	return loadEncoding(tokenizer).countTokens(text, PLAIN_TEXT);
}
