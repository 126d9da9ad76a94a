// Kiln's own operator API (`/_kiln/…`): what Lambda's API has no operation for, such as the async event
// queue's depth and one event's fate. Errors are shaped like the SDK's, so `describeError` reads both.

import { signedFetch, type Credentials } from './sigv4-signer.js';

export interface AsyncQueueView {
  readonly PollersPaused: boolean;
  readonly Depth: number;
  readonly InFlight: number;
  readonly OldestEventAgeSeconds: number;
  readonly Dropped: Readonly<Record<string, number>>;
  readonly Functions: ReadonlyArray<{
    readonly AccountId: string;
    readonly FunctionName: string;
    readonly Depth: number;
    readonly InFlight: number;
    readonly OldestEventAgeSeconds: number;
  }>;
}

export interface AsyncEventView {
  readonly RequestId: string;
  readonly AccountId: string;
  readonly FunctionName: string;
  readonly Qualifier?: string;
  readonly State: 'queued' | 'in-flight' | 'done';
  readonly Attempts: number;
  readonly EnqueuedAt: string;
  readonly Condition?: string;
  readonly Detail?: string;
  readonly FinishedAt?: string;
}

export interface AccountView {
  readonly AccountId: string;
  readonly Name: string;
  readonly Admin: boolean;
  readonly Created: string;
}

class KilnApiError extends Error {
  readonly $fault: 'client' | 'server';
  readonly $metadata: { httpStatusCode: number };
  constructor(name: string, message: string, status: number) {
    super(message);
    this.name = name;
    this.$fault = status >= 500 ? 'server' : 'client';
    this.$metadata = { httpStatusCode: status };
  }
}

export class KilnApi {
  constructor(
    private readonly endpoint: string,
    /** Kiln's own endpoints are for admin accounts: an admin key signs every call. */
    private readonly credentials?: Credentials,
  ) {}

  asyncQueue(): Promise<AsyncQueueView> {
    return this.call('GET', '/_kiln/async');
  }

  asyncEvent(requestId: string): Promise<AsyncEventView> {
    return this.call('GET', `/_kiln/async/events/${encodeURIComponent(requestId)}`);
  }

  /** A function's most recently finished events, newest first; of `accountId`, or the caller's account. */
  recentEvents(
    functionName: string,
    maxItems = 50,
    accountId?: string,
  ): Promise<{ Events: AsyncEventView[] }> {
    const q = new URLSearchParams({
      FunctionName: functionName,
      MaxItems: String(maxItems),
      ...(accountId === undefined ? {} : { AccountId: accountId }),
    });
    return this.call('GET', `/_kiln/async/events?${q.toString()}`);
  }

  listAccounts(): Promise<{ Accounts: AccountView[] }> {
    return this.call('GET', '/_kiln/accounts');
  }

  /** The new account and its access key: the only time Kiln shows the secret. */
  createAccount(
    name: string,
    admin = false,
  ): Promise<{ Account: AccountView; AccessKey: { AccessKeyId: string; SecretAccessKey: string } }> {
    return this.call('POST', '/_kiln/accounts', JSON.stringify({ Name: name, Admin: admin }));
  }

  /** By account id or name. */
  async deleteAccount(account: string): Promise<void> {
    await this.call('DELETE', `/_kiln/accounts/${encodeURIComponent(account)}`);
  }

  setPollersPaused(paused: boolean): Promise<{ PollersPaused: boolean }> {
    return this.call('POST', '/_kiln/async/pollers', JSON.stringify({ paused }));
  }

  private async call<T>(method: string, path: string, body?: string): Promise<T> {
    const r = await signedFetch(new URL(path, this.endpoint), {
      method,
      ...(body !== undefined ? { body } : {}),
      credentials: this.credentials,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await r.text();
    if (!r.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { Message?: string }).Message ?? text;
      } catch {
        // Not Kiln's JSON error: keep the raw text.
      }
      throw new KilnApiError(r.headers.get('x-amzn-errortype') ?? 'Unknown', message, r.status);
    }
    return (text === '' ? {} : JSON.parse(text)) as T;
  }
}
