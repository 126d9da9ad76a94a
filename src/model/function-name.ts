// Function identifiers as Lambda accepts them: a name, a partial ARN (`123456789012:function:name`)
// or a full ARN, each optionally with a `:qualifier`.
import { ApiError, validationError } from './errors.js';

export interface Account {
  readonly region: string;
  readonly accountId: string;
}

export interface FunctionRef {
  readonly name: string;
  readonly qualifier?: string;
}

const namePattern =
  /^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$/;
const namePatternText =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';
const bareName = /^[a-zA-Z0-9-_]+$/;

export const functionArn = (account: Account, name: string, qualifier?: string): string =>
  `arn:aws:lambda:${account.region}:${account.accountId}:function:${name}${qualifier ? `:${qualifier}` : ''}`;

/**
 * Parses the `FunctionName` of a request made in `account`. `field` is the member name used in error
 * messages. Throws ValidationException when the text matches none of Lambda's forms,
 * InvalidParameterValueException when it names another region, and AccessDeniedException when it names
 * another account: a function belongs to its account alone, and the answer is the same whether or not
 * that account has such a function.
 */
export function parseFunctionName(raw: string, account: Account, field = 'functionName'): FunctionRef {
  if (raw.length < 1 || raw.length > 140) {
    throw validationError(field, raw, 'Member must have length less than or equal to 140');
  }
  const m = namePattern.exec(raw);
  if (!m)
    throw validationError(field, raw, `Member must satisfy regular expression pattern: ${namePatternText}`);
  const [, arnPrefix, , regionPart, , accountPart, functionPart, name = '', , qualifier] = m;
  // A partial form must be unambiguous: "function:" always follows an account id, and an ARN has both.
  if ((arnPrefix && (!regionPart || !accountPart || !functionPart)) || (accountPart && !functionPart)) {
    throw validationError(field, raw, `Member must satisfy regular expression pattern: ${namePatternText}`);
  }
  if (!arnPrefix && !accountPart && functionPart) {
    throw validationError(field, raw, `Member must satisfy regular expression pattern: ${namePatternText}`);
  }
  if (name.length > 64) {
    throw validationError(field, raw, 'Member must have length less than or equal to 64');
  }
  const region = regionPart?.slice(0, -1);
  if (region && region !== account.region) {
    throw new ApiError(
      'InvalidParameterValueException',
      `Functions from '${region}' are not reachable in this region ('${account.region}')`,
    );
  }
  const acct = accountPart?.slice(0, -1);
  if (acct && acct !== account.accountId) {
    const arn = functionArn({ region: account.region, accountId: acct }, name, qualifier);
    throw new ApiError(
      'AccessDeniedException',
      `Account ${account.accountId} is not authorized to access ${arn}: a function belongs to its account alone; call with that account's keys.`,
    );
  }
  return qualifier === undefined ? { name } : { name, qualifier };
}

/** A plain function name (no ARN), as CreateFunction stores it. */
export function isBareName(s: string): boolean {
  return bareName.test(s) && s.length <= 64;
}

/** Combines a qualifier embedded in the name with a `?Qualifier=` parameter, as Lambda does. */
export function resolveQualifier(ref: FunctionRef, queryQualifier: string | undefined): FunctionRef {
  if (queryQualifier === undefined || queryQualifier === '') return ref;
  if (!/^(|[a-zA-Z0-9$_-]+)$/.test(queryQualifier) || queryQualifier.length > 128) {
    throw validationError(
      'qualifier',
      queryQualifier,
      'Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)',
    );
  }
  if (ref.qualifier !== undefined && ref.qualifier !== queryQualifier) {
    throw new ApiError(
      'InvalidParameterValueException',
      'The derived qualifier from the function name does not match the specified qualifier.',
    );
  }
  return { name: ref.name, qualifier: queryQualifier };
}
