/** Table names of the batch-job part of the ledger (LLM Batch Job). */
export const BATCHES_TABLE = 'llm_batch_ledger_batches';
export const ENTRIES_TABLE = 'llm_batch_ledger_batch_entries';
