// The accounts port: who may call Kiln, with which access keys. Everything else a tenant owns
// (functions, logs, events) is keyed by the account id these records hand out.

export interface AccountRecord {
  /** Twelve digits, as AWS account ids are. */
  readonly accountId: string;
  /** Unique, chosen by the operator: `[A-Za-z0-9._-]{1,64}`. */
  readonly name: string;
  /** Admin accounts may also manage accounts and read the platform's own endpoints (`/_kiln`, `/metrics`). */
  readonly admin: boolean;
  /** Epoch milliseconds. */
  readonly created: number;
}

export interface AccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly accountId: string;
}

/** An access key's owner, as signature verification needs it. */
export interface KeyOwner {
  readonly secretAccessKey: string;
  readonly account: AccountRecord;
}

export interface AccountStore {
  /** Creates an account with one fresh access key; ResourceConflictException if the name or id is taken. */
  create(input: { name: string; admin: boolean; accountId?: string }): {
    account: AccountRecord;
    key: AccessKey;
  };
  get(accountId: string): AccountRecord | undefined;
  findByName(name: string): AccountRecord | undefined;
  list(): AccountRecord[];
  /** Deletes an account and its keys; false when absent. */
  delete(accountId: string): boolean;
  /** The key's secret and account, or undefined for a key that does not exist. */
  ownerOf(accessKeyId: string): KeyOwner | undefined;
  close(): void;
}
