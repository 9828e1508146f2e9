/**
 * Tokens of the files a request carries, by each provider's published rule — the one
 * estimate of documents: LLM Batch Call's limiter charge and context check, Batch Prepare's
 * estimate and its sample projection, and the sandbox's billing (which adds a deterministic
 * deviation to it) all count files here. docs/documents.md gives the rules with their sources.
 *
 * - OpenAI: an image (detail auto = high) is fitted into 2048×2048, its shorter side scaled to
 *   768, and billed 85 + 170 per 512-px tile; a PDF page is its extracted text plus an image of
 *   the page (a Letter page at 768 px wide: 4 tiles, 765 tokens).
 * - Anthropic: an image is fitted to 1,568 px on its long side and 1.15 megapixels, and billed
 *   width × height / 750; a PDF page is its text plus a page image (~1,500 tokens).
 * - Gemini: an image of at most 384 px both ways is 258 tokens, a larger one 258 per 768-px
 *   tile; a PDF page is 258 tokens (the text is not billed on top).
 */
import type { AttachmentProvider } from './call/attachments';
import type { FileFacts } from './call/attachments-inspect';

/** OpenAI: a page image at the size a Letter or A4 page is read (768 × ~1,000: 2 × 2 tiles). */
export const OPENAI_PAGE_IMAGE_TOKENS = 85 + 170 * 4;
/** Anthropic: a page image (~943 × 1,220 px after the 1.15 MP fit) / 750. */
export const ANTHROPIC_PAGE_IMAGE_TOKENS = 1_500;
export const GEMINI_TILE_TOKENS = 258;

/**
 * OpenAI's mini models bill an image as 2,833 + 5,667 tokens per tile instead of 85 + 170 (the
 * same price per image at a lower price per token): their images are counted in those tokens.
 */
export function openAiImageScale(model = ''): number {
	return /gpt-4o-mini/i.test(model) ? 5667 / 170 : 1;
}

/** One file's input tokens on `provider` (`model`: OpenAI's mini models count images their own way). */
export function fileTokens(provider: AttachmentProvider, f: FileFacts, model?: string): number {
	if (f.kind === 'pdf') {
		const pages = Math.max(1, f.pages ?? 1);
		const text = f.textTokens ?? 0;
		if (provider === 'openai')
			return Math.round(pages * OPENAI_PAGE_IMAGE_TOKENS * openAiImageScale(model)) + text;
		if (provider === 'anthropic') return pages * ANTHROPIC_PAGE_IMAGE_TOKENS + text;
		return pages * GEMINI_TILE_TOKENS;
	}
	if (provider === 'openai')
		return Math.round(openAiImageTokens(f.width, f.height) * openAiImageScale(model));
	if (provider === 'anthropic') return anthropicImageTokens(f.width, f.height);
	return geminiImageTokens(f.width, f.height);
}

/** The files' tokens together. */
export function filesTokens(
	provider: AttachmentProvider,
	files: ReadonlyArray<{ facts: FileFacts }> | undefined,
	model?: string,
): number {
	let sum = 0;
	for (const f of files ?? []) sum += fileTokens(provider, f.facts, model);
	return sum;
}

export function openAiImageTokens(width?: number, height?: number): number {
	// Size unknown: the most a 2048 × 768 image can be (8 tiles).
	if (!width || !height) return 85 + 170 * 8;
	let w = width;
	let h = height;
	const fit = Math.min(1, 2048 / Math.max(w, h));
	w *= fit;
	h *= fit;
	const short = Math.min(w, h);
	if (short > 768) {
		w *= 768 / short;
		h *= 768 / short;
	}
	return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

export function anthropicImageTokens(width?: number, height?: number): number {
	if (!width || !height) return 1_600;
	let w = width;
	let h = height;
	const fit = Math.min(1, 1568 / Math.max(w, h), Math.sqrt(1_150_000 / (w * h)));
	w = Math.floor(w * fit);
	h = Math.floor(h * fit);
	return Math.max(1, Math.ceil((w * h) / 750));
}

export function geminiImageTokens(width?: number, height?: number): number {
	if (!width || !height) return GEMINI_TILE_TOKENS * 4;
	if (width <= 384 && height <= 384) return GEMINI_TILE_TOKENS;
	return GEMINI_TILE_TOKENS * Math.ceil(width / 768) * Math.ceil(height / 768);
}

/** The rule a model's files are counted by, from its name (Batch Prepare has no provider parameter). */
export function fileRuleFor(model: string): AttachmentProvider {
	if (/claude/i.test(model)) return 'anthropic';
	if (/gemini/i.test(model)) return 'gemini';
	return 'openai';
}
