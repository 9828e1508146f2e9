/**
 * Batch Report's logic: classify the items of a run by outcome (`outcome.ts`), keep a small
 * entry per item (`entry.ts`), collect a run across the retry loop (`collect.ts`), warn of
 * reports of part of a run (`partial.ts`), total it
 * (`totals.ts`, `build.ts`), render Markdown (`markdown.ts`) and check alert thresholds
 * (`alerts.ts`). This file is the entry the node and the tests import.
 */
export {
	classify,
	OUTCOMES,
	REPORT_FIELD_DEFAULTS,
	type ReportFields,
	type ReportOutcome,
} from './outcome';
export { toEntry, type ReportEntry } from './entry';
export { collect, type Collected, type CollectorState, type RunState } from './collect';
export { partialReportWarning, type PartialKind, type PartialState } from './partial';
export type { Alert, AlertThresholds, Report } from './types';
export { percentile } from './format';
export { checkAlerts } from './alerts';
export { toMarkdown } from './markdown';
export { buildReport, reportOfItems } from './build';
