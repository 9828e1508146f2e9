export * from './caps';
export * from './custom-id';
export * from './job';
export * from './jsonl';
export * from './results';
export * from './types';
export { createBatchApi } from './providers';
