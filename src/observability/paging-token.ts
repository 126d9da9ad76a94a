// Opaque paging tokens of the logs API: a cursor (what the next page starts after), tagged with the
// kind of listing it belongs to, base64url-encoded JSON. Cursors are positions, not offsets, so rows
// added or dropped (retention, size caps) between pages never shift what a page returns.
import { JsonServiceError } from '../model/index.js';

export type Cursor = readonly (string | number)[];

export function encodeToken(kind: string, cursor: Cursor): string {
  return Buffer.from(JSON.stringify([kind, ...cursor])).toString('base64url');
}

/**
 * The cursor of `token`, which must be of `kind` and hold values of the given types; anything else is
 * an InvalidParameterException (a token of another listing, a truncated or forged one).
 */
export function decodeToken(
  kind: string,
  token: string,
  types: readonly ('string' | 'number')[],
  field = 'nextToken',
): Cursor {
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parts = undefined;
  }
  if (
    !Array.isArray(parts) ||
    parts[0] !== kind ||
    parts.length !== types.length + 1 ||
    !types.every(
      (t, i) => typeof parts[i + 1] === t && (t === 'string' || Number.isSafeInteger(parts[i + 1])),
    )
  ) {
    throw new JsonServiceError(
      'InvalidParameterException',
      `The specified ${field} is invalid: pass the token exactly as a previous answer of the same operation returned it.`,
    );
  }
  return parts.slice(1) as Cursor;
}
