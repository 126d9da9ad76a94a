// Published versions and aliases: the records and Lambda's rules for them.
import type { ApiError } from './errors.js';
import { invalidParameter, notFound } from './errors.js';
import type { FunctionRecord } from './function.js';
import { functionArn, type Account } from './function-name.js';
import { Violations } from './function-rules.js';

/** An immutable snapshot of `$LATEST`, with its own RevisionId and publish time. */
export interface VersionRecord extends FunctionRecord {
  /** The version number as Lambda renders it: "1", "2", … */
  readonly version: string;
}

export interface AliasRecord {
  readonly functionName: string;
  readonly name: string;
  /** `$LATEST` or a published version number. */
  readonly functionVersion: string;
  readonly description: string;
  /** Additional version → share of invocations (0.0–1.0); at most one entry. */
  readonly weights: Readonly<Record<string, number>>;
  readonly revisionId: string;
}

export const aliasNamePattern = /^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$/;
const aliasNamePatternText = '(?!^[0-9]+$)([a-zA-Z0-9-_]+)';
const versionPattern = /^(\$LATEST|[0-9]+)$/;
const versionPatternText = '(\\$LATEST|[0-9]+)';

/** How a qualifier reads: `$LATEST`, a version number, or an alias name. */
export type Qualifier =
  { kind: 'latest' } | { kind: 'version'; version: string } | { kind: 'alias'; name: string };

/**
 * The canonical form of a version number: digits without leading zeros ("02" and "2" name one version).
 * Done on the text, so numbers past 2^53 keep every digit and never print in exponent form.
 */
export const canonicalVersion = (digits: string): string => digits.replace(/^0+(?=\d)/, '');

export function classifyQualifier(q: string | undefined): Qualifier {
  if (q === undefined || q === '$LATEST') return { kind: 'latest' };
  // Alias names may not be all digits, so digits always name a version.
  if (/^[0-9]+$/.test(q)) return { kind: 'version', version: canonicalVersion(q) };
  return { kind: 'alias', name: q };
}

export function checkAliasName(name: string | undefined, v: Violations, field = 'name'): void {
  if (name === undefined) {
    v.add(field, undefined, 'Member must not be null');
    return;
  }
  if (name.length < 1) v.add(field, name, 'Member must have length greater than or equal to 1');
  v.maxLength(field, name, 128);
  v.pattern(field, name, aliasNamePattern, aliasNamePatternText);
}

export function checkFunctionVersionField(
  version: string | undefined,
  v: Violations,
  required: boolean,
): void {
  if (version === undefined) {
    if (required) v.add('functionVersion', undefined, 'Member must not be null');
    return;
  }
  v.maxLength('functionVersion', version, 1024);
  v.pattern('functionVersion', version, versionPattern, versionPatternText);
}

export function checkDescription(description: string | undefined, v: Violations): void {
  v.maxLength('description', description, 256);
}

/**
 * Lambda's routing rules: at most one additional version, weight 0.0–1.0, a published version other
 * than the primary, and never with `$LATEST` as the primary.
 */
export function checkRouting(
  account: Account,
  functionName: string,
  primary: string,
  weights: Readonly<Record<string, number>>,
  versionExists: (version: string) => boolean,
): void {
  const entries = Object.entries(weights);
  if (entries.length === 0) return;
  const v = new Violations();
  for (const [version, weight] of entries) {
    if (!/^[0-9]+$/.test(version) || version.length > 1024) {
      v.add(
        'routingConfig.additionalVersionWeights',
        weights,
        'Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]',
      );
    }
    if (!(weight >= 0 && weight <= 1)) {
      v.add(
        'routingConfig.additionalVersionWeights',
        weights,
        'Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]',
      );
    }
  }
  v.throwIfAny();
  if (entries.length > 1) {
    throw invalidParameter(
      `Number of items in AdditionalVersionWeights cannot be greater than 1; got ${entries.length}. Route to one additional version.`,
    );
  }
  if (primary === '$LATEST') {
    throw invalidParameter('$LATEST is not supported for an alias pointing to more than 1 version');
  }
  const [[extra]] = entries as [[string, number]];
  const normalized = canonicalVersion(extra);
  if (normalized === primary) {
    throw invalidParameter(
      `Invalid function version ${primary}. Function version ${primary} is already included in routing configuration.`,
    );
  }
  if (!versionExists(normalized)) {
    throw notFound(`Function not found: ${functionArn(account, functionName, normalized)}`);
  }
}

export const aliasArn = (account: Account, functionName: string, alias: string): string =>
  functionArn(account, functionName, alias);

export function aliasNotFound(account: Account, functionName: string, alias: string): ApiError {
  return notFound(`Alias not found: ${aliasArn(account, functionName, alias)}`);
}

/** Picks the version one invocation of an alias runs: the additional one with its weight's probability. */
export function pickAliasVersion(alias: AliasRecord, random: number): string {
  const [entry] = Object.entries(alias.weights);
  if (entry && random < entry[1]) return entry[0];
  return alias.functionVersion;
}
