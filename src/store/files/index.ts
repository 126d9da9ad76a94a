export { FileCodeStore } from './code-store.js';
export type { FileCodeStoreOptions } from './code-store.js';
export { inspectZip } from './zip-inspect.js';
export type { ZipCaps, ZipSummary } from './zip-inspect.js';
