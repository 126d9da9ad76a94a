// What a worker needs to know to run one version of a function: a snapshot, immutable for an environment's life.
import type { Runtime } from '../model/index.js';

export interface FunctionSpec {
  readonly functionName: string;
  /** The function's unqualified ARN: it names the account, so it is what keys a function everywhere. */
  readonly functionArn: string;
  /** `$LATEST` or a published version number. */
  readonly version: string;
  /**
   * `$LATEST`'s changes whenever its configuration or code changes (environments never outlive it); a
   * published version's never changes.
   */
  readonly revisionId: string;
  readonly runtime: Runtime;
  readonly handler: string;
  readonly memorySize: number;
  readonly timeout: number;
  readonly ephemeralStorage: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly codeSha256Hex: string;
  readonly region: string;
}

/** Environments are shared only between invocations of exactly the same snapshot of the same account. */
export const specKey = (s: FunctionSpec): string => `${s.functionArn}\n${s.version}\n${s.revisionId}`;

/** The account a function belongs to (`arn:aws:lambda:<region>:<account>:function:<name>`). */
export const accountOf = (s: Pick<FunctionSpec, 'functionArn'>): string => s.functionArn.split(':')[4] ?? '';

/**
 * Whether retiring the function `functionArn` (all of it when `version` is undefined, else that version
 * except revision `keepRevision`) retires environments of `spec`.
 */
export const isRetiredBy = (
  spec: FunctionSpec,
  functionArn: string,
  version?: string,
  keepRevision?: string,
): boolean =>
  spec.functionArn === functionArn &&
  (version === undefined || (spec.version === version && spec.revisionId !== keepRevision));
