export { SqliteMetadataStore } from './metadata-store.js';
export { SqliteAccountStore } from './account-store.js';
