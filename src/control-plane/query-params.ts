// Query-string parameters with Lambda's error wording.
import { ApiError, validationError } from '../model/index.js';

export function intParam(
  field: string,
  raw: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw)) {
    throw new ApiError('InvalidParameterValueException', `${field} must be an integer, got '${raw}'.`);
  }
  const n = Number(raw);
  if (n < min || n > max) {
    throw validationError(
      field,
      raw,
      n < min
        ? `Member must have value greater than or equal to ${min}`
        : `Member must have value less than or equal to ${max}`,
    );
  }
  return n;
}
