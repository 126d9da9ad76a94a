import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonServiceError } from '../../src/model/index.js';
import { matches, parseFilterPattern } from '../../src/observability/index.js';

const match = (pattern: string, message: string): boolean => matches(parseFilterPattern(pattern), message);

describe('filter patterns', () => {
  it('lets everything through when empty or blank', () => {
    assert.ok(match('', 'anything'));
    assert.ok(match('   ', ''));
  });

  it('requires every plain term, case-sensitively, anywhere in the message', () => {
    assert.ok(match('ERROR', 'an ERROR here'));
    assert.ok(match('ERROR timeout', 'timeout then ERROR'));
    assert.ok(!match('ERROR timeout', 'ERROR only'));
    assert.ok(!match('error', 'ERROR'));
  });

  it('matches a quoted phrase exactly, spaces and tabs included', () => {
    assert.ok(match('"Task timed out"', 'x Task timed out after 3.00 seconds'));
    assert.ok(!match('"Task timed out"', 'Task was timed out'));
    assert.ok(match('"a\tb"', 'xa\tbx'));
    assert.deepEqual(parseFilterPattern('"two words" other').required, ['two words', 'other']);
  });

  it('matches any ?term, and none of the -terms', () => {
    assert.ok(match('?ERROR ?WARN', 'a WARN line'));
    assert.ok(!match('?ERROR ?WARN', 'an INFO line'));
    assert.ok(match('REPORT -"Init Duration"', 'REPORT Duration: 1 ms'));
    assert.ok(!match('REPORT -"Init Duration"', 'REPORT Duration: 1 ms Init Duration: 2 ms'));
    assert.ok(match('START ?a ?b', 'START b'));
    assert.ok(!match('START ?a ?b', 'START c'));
  });

  it('refuses JSON, space-delimited and regex patterns, and broken quotes, naming what works', () => {
    for (const p of ['{ $.level = "ERROR" }', '[ip, user]', '%ERR.*%', '"unclosed', 'a ? b']) {
      assert.throws(
        () => parseFilterPattern(p),
        (e: unknown) =>
          e instanceof JsonServiceError &&
          e.code === 'InvalidParameterException' &&
          /Kiln supports plain terms/.test(e.message),
        p,
      );
    }
  });
});
