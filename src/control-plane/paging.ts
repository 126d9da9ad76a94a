// Opaque paging markers for versions and aliases, as Lambda's are opaque; inside, the last key returned.
import { ApiError } from '../model/index.js';

export const encodeMarker = (kind: string, key: string): string =>
  Buffer.from(`${kind}:${key}`).toString('base64url');

export function decodeMarker(kind: string, marker: string | undefined): string | undefined {
  if (marker === undefined || marker === '') return undefined;
  const text = Buffer.from(marker, 'base64url').toString('utf8');
  if (!text.startsWith(`${kind}:`)) {
    throw new ApiError(
      'InvalidParameterValueException',
      'Invalid Marker: pass the NextMarker of a previous response of the same operation.',
    );
  }
  return text.slice(kind.length + 1);
}
