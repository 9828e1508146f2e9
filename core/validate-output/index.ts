/**
 * Validate Output's verdict for one item: parse the model's answer, check it against a JSON
 * Schema, and send low-confidence answers to a human.
 *
 *   valid   -> the parsed value is written back, `validation: { status: 'valid' }`
 *   invalid -> `error: { code: malformed_output | schema_violation, issues }`,
 *              `validation: { status: 'invalid', issues }`
 *   review  -> `validation: { status: 'review', reason, confidence }`; a valid answer picked
 *              for a spot check (./spot-check.ts) too, with `reason: 'spot_check'` and the
 *              parsed value written back as for a valid one
 */
import { deletePath, getPath, setPath, type Json } from '../paths';
import type { Issue, ItemError } from '../types';
import { extractJson, formatIssues, type SchemaValidator } from '../schema';
import { isSpotChecked, SPOT_CHECK_REASON, spotCheckKey, type SpotCheckConfig } from './spot-check';

export { isSpotChecked, SPOT_CHECK_REASON, type SpotCheckConfig } from './spot-check';

export interface OutputCheckConfig {
	/** The answer: parsed JSON, or text to parse. @default 'llm.output' */
	readonly field: string;
	/** Parsed when `field` is empty; '' to turn off. @default 'llm.text' */
	readonly textField: string;
	/** Where the parsed value goes. @default field */
	readonly parsedField: string;
	readonly schema?: SchemaValidator;
	/** Path inside the parsed value, e.g. `confidence`; absent: no confidence rule. */
	readonly confidence?: {
		readonly path: string;
		/** Below this goes to Review. */
		readonly threshold: number;
		/** A missing or non-numeric confidence: Review (default) or Valid. @default 'review' */
		readonly whenMissing: 'review' | 'valid';
	};
	/** @default 'validation' */
	readonly validationField: string;
	/** Where call attempts are read for `error.attempts`. @default 'llm.attempts' */
	readonly attemptsField: string;
	/** Spot Check %: a seeded share of valid answers also goes to Review. @default undefined (none) */
	readonly spotCheck?: SpotCheckConfig;
}

export type Verdict = 'valid' | 'invalid' | 'review';

export interface CheckedItem {
	verdict: Verdict;
	json: Json;
	/** A valid answer on Review for a spot check. */
	spotCheck?: true;
}

function invalid(
	json: Json,
	config: OutputCheckConfig,
	code: 'malformed_output' | 'schema_violation',
	message: string,
	issues: Issue[],
): CheckedItem {
	const attempts = getPath(json, config.attemptsField);
	const error: ItemError = {
		code,
		message,
		// A new sample may parse; a schema miss needs a changed prompt or schema (Route Failures can still be told to retry it).
		retryable: code === 'malformed_output',
		attempts: typeof attempts === 'number' ? attempts : 1,
		issues,
	};
	const out = setPath(json, config.validationField, { status: 'invalid', issues });
	return { verdict: 'invalid', json: { ...out, error } };
}

/** An `error` left from an earlier failed pass would make a now-valid item look failed downstream. */
function withoutStaleError(json: Json): Json {
	const error = json.error;
	if (
		error === null ||
		typeof error !== 'object' ||
		typeof (error as { code?: unknown }).code !== 'string'
	)
		return json;
	return deletePath(json, 'error');
}

export function checkOutput(json: Json, config: OutputCheckConfig): CheckedItem {
	let value = getPath(json, config.field);
	let source = config.field;
	if ((value === undefined || value === null || value === '') && config.textField !== '') {
		const text = getPath(json, config.textField);
		if (typeof text === 'string') {
			value = text;
			source = config.textField;
		}
	}
	if (value === undefined || value === null) {
		const where =
			config.textField !== '' ? `"${config.field}" or "${config.textField}"` : `"${config.field}"`;
		return invalid(json, config, 'malformed_output', `No model output at ${where}`, [
			{ path: '/', message: `no value at ${where}`, code: 'missing' },
		]);
	}
	if (typeof value === 'string') {
		const extracted = extractJson(value);
		if (!extracted.ok) {
			return invalid(json, config, 'malformed_output', `${extracted.message} (field "${source}")`, [
				{ path: '/', message: extracted.message, code: 'parse' },
			]);
		}
		value = extracted.value;
	}

	if (config.schema) {
		const issues = config.schema(value);
		if (issues.length > 0) {
			// Keep the parsed value on the item so a reviewer sees what the model said.
			const withValue = setPath(json, config.parsedField, value);
			return invalid(
				withValue,
				config,
				'schema_violation',
				`Output does not match the schema: ${formatIssues(issues)}`,
				issues,
			);
		}
	}

	let out = setPath(withoutStaleError(json), config.parsedField, value);
	if (config.confidence) {
		const raw = getPath(value, config.confidence.path);
		const confidence =
			typeof raw === 'number' && Number.isFinite(raw)
				? raw
				: typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))
					? Number(raw)
					: undefined;
		if (confidence === undefined) {
			if (config.confidence.whenMissing === 'review') {
				out = setPath(out, config.validationField, {
					status: 'review',
					reason: `no numeric confidence at "${config.confidence.path}"`,
					confidence: null,
				});
				return { verdict: 'review', json: out };
			}
		} else if (confidence < config.confidence.threshold) {
			out = setPath(out, config.validationField, {
				status: 'review',
				reason: `confidence ${confidence} is below ${config.confidence.threshold}`,
				confidence,
			});
			return { verdict: 'review', json: out };
		} else {
			return valid(out, value, config, { confidence });
		}
	}
	return valid(out, value, config, {});
}

/** A valid answer: on Valid, or on Review when the spot check picks its record. */
function valid(
	json: Json,
	value: unknown,
	config: OutputCheckConfig,
	extra: { confidence?: number },
): CheckedItem {
	const spot = config.spotCheck;
	if (spot && isSpotChecked(spotCheckKey(json, value, spot.recordIdField), spot)) {
		const review = { status: 'review', reason: SPOT_CHECK_REASON, ...extra };
		return {
			verdict: 'review',
			json: setPath(json, config.validationField, review),
			spotCheck: true,
		};
	}
	return {
		verdict: 'valid',
		json: setPath(json, config.validationField, { status: 'valid', ...extra }),
	};
}
