import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiError } from '../../src/model/index.js';
import { parseFunctionName, resolveQualifier } from '../../src/model/index.js';

const account = { region: 'us-east-1', accountId: '123456789012' };
const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as ApiError).code;
  }
  return 'none';
};

describe('parseFunctionName', () => {
  it('accepts the name, partial ARN and full ARN forms, with qualifiers', () => {
    assert.deepEqual(parseFunctionName('my-fn_1', account), { name: 'my-fn_1' });
    assert.deepEqual(parseFunctionName('my-fn:$LATEST', account), { name: 'my-fn', qualifier: '$LATEST' });
    assert.deepEqual(parseFunctionName('123456789012:function:f', account), { name: 'f' });
    assert.deepEqual(parseFunctionName('arn:aws:lambda:us-east-1:123456789012:function:f', account), {
      name: 'f',
    });
    assert.deepEqual(parseFunctionName('arn:aws:lambda:us-east-1:123456789012:function:f:live', account), {
      name: 'f',
      qualifier: 'live',
    });
  });

  it('refuses malformed names with ValidationException', () => {
    for (const bad of [
      '',
      'has space',
      'a/b',
      'x'.repeat(65),
      'arn:aws:lambda:function:f',
      'a:b:c',
      'x'.repeat(141),
    ]) {
      assert.equal(
        code(() => parseFunctionName(bad, account)),
        'ValidationException',
        bad,
      );
    }
  });

  it('refuses other regions and accounts', () => {
    assert.equal(
      code(() => parseFunctionName('arn:aws:lambda:eu-west-1:123456789012:function:f', account)),
      'InvalidParameterValueException',
    );
    assert.equal(
      code(() => parseFunctionName('999999999999:function:f', account)),
      'AccessDeniedException',
    );
  });

  it('combines qualifiers from the name and the query', () => {
    assert.deepEqual(resolveQualifier({ name: 'f' }, '1'), { name: 'f', qualifier: '1' });
    assert.deepEqual(resolveQualifier({ name: 'f', qualifier: '1' }, undefined), {
      name: 'f',
      qualifier: '1',
    });
    assert.equal(
      code(() => resolveQualifier({ name: 'f', qualifier: '1' }, '2')),
      'InvalidParameterValueException',
    );
    assert.equal(
      code(() => resolveQualifier({ name: 'f' }, 'bad qualifier')),
      'ValidationException',
    );
  });
});
