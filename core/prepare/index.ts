/**
 * Batch Prepare's logic: record IDs, input validation, dedupe, sampling, chunking and the
 * pre-flight estimate. Pure: the node evaluates expressions (the pre-filter, the text to
 * count) and hands in plain values; randomness comes in as a seed.
 *
 * Every input item ends up either Ready or Rejected. Rejected items carry
 * `json.error: ItemError` with code `invalid_input` (validation, pre-filter, not in the
 * sample — `error.issues[].code` tells which) or `duplicate`.
 */
export * from './types';
export { validateItem } from './validate';
export { contentHash } from './content-hash';
export { prepareItems } from './prepare-items';
export * from './estimate';
