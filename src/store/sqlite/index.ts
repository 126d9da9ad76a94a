export { SqliteMetadataStore } from './metadata-store.js';
