export type {
  AccountMetadata,
  CodeStore,
  ListPage,
  MetadataStore,
  ProvisionedConcurrencyRecord,
} from './ports.js';
