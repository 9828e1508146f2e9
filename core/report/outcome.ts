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
	const result = getPath(json, fields.resultField);
	if (result !== undefined && result !== null) return { outcome: 'success' };
	return { outcome: 'failed', errorCode: 'unknown' };
}
