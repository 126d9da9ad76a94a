import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonServiceError } from '../../src/model/index.js';
import { decodeToken, encodeToken } from '../../src/observability/index.js';

const invalid = (e: unknown): boolean =>
  e instanceof JsonServiceError && e.code === 'InvalidParameterException';

describe('paging tokens', () => {
  it('round-trip a cursor of numbers and strings', () => {
    const token = encodeToken('filter', [1_795_996_342_060, 42]);
    assert.deepEqual(decodeToken('filter', token, ['number', 'number']), [1_795_996_342_060, 42]);
    const named = encodeToken('streams-time', [7, '2026/11/29/[$LATEST]ab']);
    assert.deepEqual(decodeToken('streams-time', named, ['number', 'string']), [7, '2026/11/29/[$LATEST]ab']);
  });

  it('are the same string for the same position (paginators stop on a repeated token)', () => {
    assert.equal(encodeToken('f', [5, 6]), encodeToken('f', [5, 6]));
  });

  it("refuse another listing's token, garbage, wrong shapes and unsafe numbers", () => {
    const filter = encodeToken('filter', [1, 2]);
    assert.throws(() => decodeToken('groups', filter, ['string']), invalid);
    assert.throws(() => decodeToken('filter', 'not a token', ['number', 'number']), invalid);
    assert.throws(() => decodeToken('filter', encodeToken('filter', [1]), ['number', 'number']), invalid);
    assert.throws(
      () => decodeToken('filter', encodeToken('filter', ['1', 2]), ['number', 'number']),
      invalid,
    );
    assert.throws(
      () => decodeToken('filter', encodeToken('filter', [1.5, 2]), ['number', 'number']),
      invalid,
    );
    const huge = Buffer.from('["filter",1e300,2]').toString('base64url');
    assert.throws(() => decodeToken('filter', huge, ['number', 'number']), invalid);
  });
});
