export * from './cache';
export * from './caps';
export * from './collect';
export { collectSummary } from './collect-summary';
export * from './job-check';
export * from './custom-id';
export {
	MAX_KEPT_FILE_BYTES,
	type FileNote,
	type FilesSink,
	type RecordBinary,
	type ReturnedFiles,
} from './files';
export * from './context';
export type { BatchGrouping } from './grouping';
export * from './jsonl';
export { shareItemText } from './payload';
export { resolvePending } from './pending';
export * from './resend';
export * from './results';
export * from './submit';
export * from './status';
export * from './types';
export { createBatchApi } from './providers';
export * from './skip-summary';
