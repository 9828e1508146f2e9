/**
 * What an LLM call assumes when the workflow says nothing: declared once here, so the node
 * editor shows, the node parameters fall back to and the engine applies the same value.
 */

/** The model a new node starts with; also the tokenizer and price of an estimate. */
export const DEFAULT_MODEL = 'gpt-4o-mini';
/** Requests in flight at once. */
export const DEFAULT_CONCURRENCY = 8;
/** A provider's request limit when none is given (a common entry tier). */
export const DEFAULT_REQUESTS_PER_MINUTE = 500;
/** A provider's token limit when none is given. */
export const DEFAULT_TOKENS_PER_MINUTE = 200_000;
/** Output tokens per answer. */
export const DEFAULT_MAX_TOKENS = 1024;
/** Attempts per item for transient errors, the first included (rate-limit waits do not count). */
export const DEFAULT_MAX_ATTEMPTS = 5;
/** The field a successful item gains: LLM Batch Call and LLM Batch Job write it, the ledger and the report read it. */
export const DEFAULT_RESULT_FIELD = 'llm';

/*
 * The item contract's fields, where each node writes and the next one reads them unless told
 * otherwise: the error of a failed item, Route Failures' trip counter, Batch Prepare's run
 * stamp, Validate Output's verdict.
 */
export const DEFAULT_ERROR_FIELD = 'error';
export const DEFAULT_RETRY_FIELD = 'retry';
export const DEFAULT_RUN_FIELD = 'batchRun';
export const DEFAULT_VALIDATION_FIELD = 'validation';
