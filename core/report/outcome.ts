/**
 * The outcome of one item as Batch Report counts it (first rule that matches):
 *   error.code invalid_input / duplicate     -> rejected  (Batch Prepare)
 *   error.code in filteredCodes              -> filtered  (content policy)
 *   error + validation.status 'invalid'      -> invalid   (Validate Output)
 *   any other error                          -> failed    (Dead Letter / Failed)
 *   validation.status 'review'               -> review    (Validate Output)
 *   the result field (llm) present           -> success
 *   anything else                            -> failed, code 'unknown'
 */
import {
	DEFAULT_ERROR_FIELD,
	DEFAULT_RESULT_FIELD,
	DEFAULT_RETRY_FIELD,
	DEFAULT_RUN_FIELD,
	DEFAULT_VALIDATION_FIELD,
} from '../defaults';
import { getPath, type Json } from '../paths';
import type { ErrorCode } from '../types';

export const OUTCOMES = ['success', 'review', 'invalid', 'failed', 'filtered', 'rejected'] as const;
export type ReportOutcome = (typeof OUTCOMES)[number];

export const REJECTED_CODES: ReadonlySet<string> = new Set<ErrorCode>([
	'invalid_input',
	'duplicate',
]);

export interface ReportFields {
	/** @default 'llm' */
	readonly resultField: string;
	/**
	 * Result fields of later calls that answered some items again with another model (a
	 * cheap-first cascade's strong model): each one's cost counts, and the last one present
	 * on an item is its answer. @default []
	 */
	readonly laterResultFields?: readonly string[];
	/** @default 'error' */
	readonly errorField: string;
	/** @default 'validation' */
	readonly validationField: string;
	/** @default 'retry' */
	readonly retryField: string;
	/** @default 'batchRun' */
	readonly runField: string;
	/** @default ['content_filter'] */
	readonly filteredCodes: ReadonlySet<string>;
}

export const REPORT_FIELD_DEFAULTS: ReportFields = {
	resultField: DEFAULT_RESULT_FIELD,
	errorField: DEFAULT_ERROR_FIELD,
	validationField: DEFAULT_VALIDATION_FIELD,
	retryField: DEFAULT_RETRY_FIELD,
	runField: DEFAULT_RUN_FIELD,
	filteredCodes: new Set(['content_filter']),
};

/** The result fields in the order the calls ran: the last one an item has is its answer. */
export function resultFieldsOf(fields: ReportFields): string[] {
	return [fields.resultField, ...(fields.laterResultFields ?? [])];
}

function present(v: unknown): boolean {
	return v !== undefined && v !== null;
}

export function classify(
	json: Json,
	fields: ReportFields = REPORT_FIELD_DEFAULTS,
): { outcome: ReportOutcome; errorCode?: string } {
	const error = getPath(json, fields.errorField);
	const status = getPath(json, `${fields.validationField}.status`);
	if (error !== undefined && error !== null) {
		const code =
			typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string'
				? (error as { code: string }).code
				: 'unknown';
		if (REJECTED_CODES.has(code)) return { outcome: 'rejected', errorCode: code };
		if (fields.filteredCodes.has(code)) return { outcome: 'filtered', errorCode: code };
		if (status === 'invalid') return { outcome: 'invalid', errorCode: code };
		return { outcome: 'failed', errorCode: code };
	}
	if (status === 'review') return { outcome: 'review' };
	if (resultFieldsOf(fields).some((f) => present(getPath(json, f)))) return { outcome: 'success' };
	return { outcome: 'failed', errorCode: 'unknown' };
}
