// Reading members of a JSON-protocol request with CloudWatch Logs' error classes: a member of the
// wrong JSON type is a SerializationException (the wire shape is broken), a value outside its
// constraints is an InvalidParameterException worded like AWS's validation layer.
import { JsonServiceError } from '../model/index.js';

export type Members = Readonly<Record<string, unknown>>;

const serialization = (field: string, want: string, got: unknown): JsonServiceError =>
  new JsonServiceError(
    'SerializationException',
    `Member '${field}' must be ${want}, not ${got === null ? 'null' : Array.isArray(got) ? 'an array' : `a ${typeof got}`}.`,
  );

export const invalidParameter = (message: string): JsonServiceError =>
  new JsonServiceError('InvalidParameterException', message);

function constraint(field: string, value: unknown, rule: string): JsonServiceError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return invalidParameter(
    `1 validation error detected: Value '${shown}' at '${field}' failed to satisfy constraint: ${rule}`,
  );
}

export interface StringRule {
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: RegExp;
}

export function optString(m: Members, field: string, rule: StringRule = {}): string | undefined {
  const v = m[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw serialization(field, 'a string', v);
  if (rule.min !== undefined && v.length < rule.min) {
    throw constraint(field, v, `Member must have length greater than or equal to ${rule.min}`);
  }
  if (rule.max !== undefined && v.length > rule.max) {
    throw constraint(field, v, `Member must have length less than or equal to ${rule.max}`);
  }
  if (rule.pattern && !rule.pattern.test(v)) {
    throw constraint(field, v, `Member must satisfy regular expression pattern: ${rule.pattern.source}`);
  }
  return v;
}

export function optInteger(
  m: Members,
  field: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = m[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw serialization(field, 'a number', v);
  if (!Number.isInteger(v)) throw serialization(field, 'a whole number', v);
  if (v < min) throw constraint(field, v, `Member must have value greater than or equal to ${min}`);
  if (v > max) throw constraint(field, v, `Member must have value less than or equal to ${max}`);
  return v;
}

export function optBoolean(m: Members, field: string): boolean | undefined {
  const v = m[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw serialization(field, 'true or false', v);
  return v;
}

export function optStringList(
  m: Members,
  field: string,
  size: { min: number; max: number },
  item: StringRule,
): string[] | undefined {
  const v = m[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw serialization(field, 'a list of strings', v);
  if (v.length < size.min)
    throw constraint(field, v, `Member must have length greater than or equal to ${size.min}`);
  if (v.length > size.max)
    throw constraint(field, v, `Member must have length less than or equal to ${size.max}`);
  return v.map((entry: unknown, i) => {
    if (typeof entry !== 'string') throw serialization(`${field}.${i + 1}`, 'a string', entry);
    return optString({ [field]: entry }, field, item) ?? entry;
  });
}

export function optEnum<T extends string>(m: Members, field: string, values: readonly T[]): T | undefined {
  const v = optString(m, field);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    throw constraint(field, v, `Member must satisfy enum value set: [${values.join(', ')}]`);
  }
  return v as T;
}
