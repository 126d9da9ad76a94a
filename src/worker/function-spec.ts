// What a worker needs to know to run one version of a function: a snapshot, immutable for an environment's life.
import type { Runtime } from '../model/index.js';

export interface FunctionSpec {
  readonly functionName: string;
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

/** Environments are shared only between invocations of exactly the same snapshot. */
export const specKey = (s: FunctionSpec): string => `${s.functionName}\n${s.version}\n${s.revisionId}`;

/**
 * Whether retiring `functionName` (all of it when `version` is undefined, else that version except
 * revision `keepRevision`) retires environments of `spec`.
 */
export const isRetiredBy = (
  spec: FunctionSpec,
  functionName: string,
  version?: string,
  keepRevision?: string,
): boolean =>
  spec.functionName === functionName &&
  (version === undefined || (spec.version === version && spec.revisionId !== keepRevision));
