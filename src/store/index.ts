export type { CodeStore, ListPage, MetadataStore } from './ports.js';
