// Generators of hostile API input: function names and qualifiers, query strings, headers and JSON bodies.
import fc from 'fast-check';

const region = 'us-east-1';
const account = '000000000000';
const arnOf = (name: string, r = region, a = account) => `arn:aws:lambda:${r}:${a}:function:${name}`;

/**
 * Percent-encodes a path segment or query value as a client would: UTF-8, every byte but the unreserved
 * ones. Unlike encodeURIComponent it accepts lone surrogates (sent as U+FFFD, as Buffer encodes them).
 */
export const enc = (s: string): string =>
  [...Buffer.from(s)]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

/** Odd strings: unicode of every plane, control characters, traversal, NUL, huge, lone surrogates. */
export const oddText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '..',
    '../..',
    '/',
    '%00',
    '\u0000',
    '\ud800',
    '\uffff',
    'é',
    '函数',
    '🔥',
    '$LATEST',
    '$latest',
    '0',
    '00',
    '-1',
    '1e3',
    '99999999999999999999999',
    'NaN',
    '__proto__',
    'constructor',
    'null',
    'a'.repeat(64),
    'a'.repeat(65),
    'a'.repeat(141),
    'x'.repeat(3000),
    ':',
    'fx:',
    ':fx',
  ),
);

/** Names that resolve to a fixture when nothing else is wrong. */
export const fixtureRef: fc.Arbitrary<string> = fc.constantFrom(
  'fx',
  'fy',
  'fx:1',
  'fx:2',
  'fx:live',
  'fx:split',
  'fx:$LATEST',
  'fy:1',
  `${account}:function:fx`,
  arnOf('fx'),
  `${arnOf('fx')}:live`,
  arnOf('fy'),
);

/**
 * Names Kiln must refuse or find nothing under, whatever the route: unknown names, other regions and
 * accounts, malformed ARNs, characters outside Lambda's pattern, or too long.
 */
export const refusedName: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^nx-[a-z0-9]{1,10}$/),
  fc.constantFrom(
    arnOf('fx', 'eu-west-1'),
    arnOf('fx', region, '111111111111'),
    `111111111111:function:fx`,
    `arn:aws:lambda:${region}:${account}:fx`,
    `arn:aws:s3:::fx`,
    'function:fx',
    'fx:',
    'fx::1',
    'fx:1:2',
    'fx/..',
    '../fx',
    'fx%00',
    'fx\u0000',
    'fx ',
    ' fx',
    'FX-ünïcode',
    'f'.repeat(65),
    `${arnOf('f'.repeat(64))}:${'q'.repeat(80)}`,
    'fx:' + 'q'.repeat(200),
    'fx:bad alias',
  ),
  // Anything with a character outside [a-zA-Z0-9-_:$] can never match Lambda's pattern.
  fc
    .tuple(oddText, fc.constantFrom('!', ' ', '/', '\u00e9', '\u0000', '..', '%', '"'))
    .map(([s, bad]) => `${s}${bad}fx`),
);

/** Any name: fixtures, refused ones, and raw odd text. */
export const anyName: fc.Arbitrary<string> = fc.oneof(fixtureRef, refusedName, oddText);

/** Qualifier values, valid and not. */
export const qualifier: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('1', '2', '01', '3', '$LATEST', 'live', 'split', 'nx', '', '0', '99999999999999999999999'),
  oddText,
);

/** Qualifiers that name nothing configurable on the fixtures. */
export const refusedQualifier: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('3', '99', 'nx-alias', 'bad qualifier', '$LATEST!', 'q'.repeat(200), '%00', '..'),
  fc.tuple(oddText, fc.constantFrom('!', ' ', '/', '\u00e9', '\u0000', '..')).map(([s, b]) => `${s}${b}`),
);

/** Extra query parameters: known names with odd values, repeated names, odd names. */
export const oddQuery: fc.Arbitrary<ReadonlyArray<readonly [string, string]>> = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom(
        'Marker',
        'MaxItems',
        'FunctionVersion',
        'List',
        'Qualifier',
        'FunctionName',
        'Expires',
      ),
      fc.constantFrom('', '__proto__', 'constructor', 'a[b]', 'a.b', 'Qualifier[]', 'x'.repeat(500)),
      oddText,
    ),
    fc.oneof(
      oddText,
      fc.constantFrom('ALL', '0', '-1', '1.5', '10001', '1e3', 'Infinity', 'bWFya2Vy', 'dmVyc2lvbnM6YWJj'),
    ),
  ),
  { maxLength: 4 },
);

/** Renders query pairs; some pairs are sent raw so malformed escapes reach the server. */
export function renderQuery(pairs: ReadonlyArray<readonly [string, string]>, raw = false): string {
  if (pairs.length === 0) return '';
  const part = (s: string) => (raw ? s.replace(/[\s#]/g, (c) => enc(c)) : enc(s));
  return `?${pairs.map(([k, v]) => `${part(k)}=${part(v)}`).join('&')}`;
}

/** A JSON value of any shape, nested a little. */
export const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 });

/** A value of a different JSON type than `kind`, so a schema member of that kind refuses it. */
export function wrongTypeFor(kind: MemberKind): fc.Arbitrary<unknown> {
  const pools: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 2 }),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
    ),
    int: fc.oneof(
      fc.string({ maxLength: 5 }),
      fc.boolean(),
      fc.constant(null),
      fc.double({ noInteger: true }).filter((d) => Number.isFinite(d)),
      fc.constant([1]),
      fc.constant({}),
    ),
    number: fc.oneof(fc.string({ maxLength: 5 }), fc.boolean(), fc.constant(null), fc.constant([0.5])),
    boolean: fc.oneof(fc.constantFrom('true', 'false', 0, 1, null), fc.constant([])),
    object: fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant([{}])),
    array: fc.oneof(fc.string(), fc.integer(), fc.constant({}), fc.constant(null)),
    stringMap: fc.oneof(
      fc.string(),
      fc.constant(null),
      fc.constant([]),
      fc.dictionary(fc.string({ minLength: 1 }), fc.oneof(fc.integer(), fc.constant(null), fc.constant({})), {
        minKeys: 1,
        maxKeys: 3,
      }),
    ),
  };
  const pool = pools[kind];
  if (!pool) throw new Error(`no wrong types for ${kind}`);
  return pool;
}

export type MemberKind = 'string' | 'int' | 'number' | 'boolean' | 'object' | 'array' | 'stringMap';

/** A member value of the right JSON type (its value may still break a rule). */
function rightTypeFor(kind: MemberKind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'string':
      return oddText;
    case 'int':
      return fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER, 1e21));
    case 'number':
      return fc.double();
    case 'boolean':
      return fc.boolean();
    case 'object':
      return fc.constant({});
    case 'array':
      return fc.array(fc.string(), { maxLength: 2 });
    case 'stringMap':
      return fc.dictionary(oddText, fc.string(), { maxKeys: 3 });
  }
}

/**
 * A JSON object body for a schema described by member kinds, with at least one member of the wrong type:
 * Kiln must refuse it whatever the other members say, so fixtures it targets cannot change.
 */
export function poisonedBody(members: Readonly<Record<string, MemberKind>>): fc.Arbitrary<string> {
  const names = Object.keys(members);
  return fc
    .tuple(
      fc.constantFrom(...names),
      fc.subarray(names, { maxLength: Math.min(4, names.length) }),
      fc.dictionary(oddText, anyJson, { maxKeys: 2 }),
    )
    .chain(([poisoned, others, extra]) =>
      fc
        .tuple(
          wrongTypeFor(members[poisoned] as MemberKind),
          fc.tuple(
            ...others.map((n) =>
              fc.oneof(rightTypeFor(members[n] as MemberKind), wrongTypeFor(members[n] as MemberKind)),
            ),
          ),
        )
        .map(([bad, values]) => {
          const body: Record<string, unknown> = { ...extra };
          others.forEach((n, i) => (body[n] = values[i]));
          body[poisoned] = bad;
          return JSON.stringify(body);
        }),
    );
}

/** Bodies that are not a JSON object at all: malformed, truncated, other JSON types, odd bytes. */
export const notAnObject: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.constantFrom(
    '{',
    '}',
    '{"a":',
    '{"a" 1}',
    "{'a':1}",
    '[]',
    'null',
    '1',
    '"s"',
    'true',
    '{"a":1}}',
    '{"a":1,}',
    '\ufeff[]',
    '{"__proto__":',
    'NaN',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => {
    // Kiln reads an empty or blank body as `{}`, a valid (empty) request.
    if (s.trim() === '') return false;
    try {
      const v: unknown = JSON.parse(s);
      return v === null || typeof v !== 'object' || Array.isArray(v);
    } catch {
      return true;
    }
  }),
  fc
    .uint8Array({ minLength: 1, maxLength: 40 })
    .map((a) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(a)])),
  anyJson
    .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))
    .map((v) => JSON.stringify(v)),
);

/** JSON nested `depth` levels deep, as an array chain or an object chain under a member name. */
export function deepJson(depth: number, member?: string): string {
  const inner = member
    ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
    : `${'['.repeat(depth)}${']'.repeat(depth)}`;
  return member ? `{${JSON.stringify(member)}:${inner}}` : inner;
}

/** Header pairs a client should never send, but might: odd names, odd values, repeated API headers. */
export const oddHeaders: fc.Arbitrary<ReadonlyArray<readonly [string, string | Buffer]>> = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom(
        'Content-Type',
        'X-Amz-Invocation-Type',
        'X-Amz-Log-Type',
        'X-Amz-Client-Context',
        'X-Amz-Date',
        'Authorization',
        'X-Amz-Security-Token',
        'Accept',
        'Accept-Encoding',
        'Content-Encoding',
        'X-Amzn-Trace-Id',
        'X-Forwarded-For',
        'Cookie',
      ),
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,30}$/),
    ),
    fc.oneof(
      fc.constantFrom(
        '',
        'Event',
        'DryRun',
        'RequestResponse',
        'Tail',
        'application/json',
        'application/json; charset=latin1',
        'text/plain',
        'multipart/form-data; boundary=x',
        'application/x-www-form-urlencoded',
        'application/x-amz-json-1.1',
        '*/*',
        'gzip',
        'e30=',
        'bm90IGpzb24=',
        '!!!!',
      ),
      fc.stringMatching(/^[\x20-\x7e]{0,40}$/).map((s) => s.trim()),
      // Bytes above 0x7f are legal obs-text in a header value; Kiln sees them as latin1.
      fc
        .uint8Array({ maxLength: 12 })
        .map((a) => Buffer.from(a.map((b) => (b < 0x20 || b === 0x7f ? 0x41 : b)))),
    ),
  ),
  { maxLength: 4 },
);
