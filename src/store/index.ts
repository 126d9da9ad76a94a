export type {
  AccountMetadata,
  CodeStore,
  ListPage,
  MetadataStore,
  ProvisionedConcurrencyRecord,
} from './ports.js';
export type { AccessKey, AccountRecord, AccountStore, KeyOwner } from './accounts.js';
