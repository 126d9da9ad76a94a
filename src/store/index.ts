export type { CodeStore, ListPage, MetadataStore, ProvisionedConcurrencyRecord } from './ports.js';
