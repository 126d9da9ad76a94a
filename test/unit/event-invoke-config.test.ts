// Rules for asynchronous invocation settings and for the ARNs they deliver to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Violations,
  checkDestinations,
  checkEventInvokeFields,
  compareQualifiers,
  deadLetterTarget,
  effectiveAsyncSettings,
  functionTarget,
  requireSomeSetting,
  type ApiError,
  type EventInvokeSettings,
} from '../../src/model/index.js';

const account = { region: 'us-east-1', accountId: '000000000000' };
const fn = (rest: string): string => `arn:aws:lambda:us-east-1:000000000000:function:${rest}`;

/** The error a call throws, as `code: message`, or 'none'. */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return `${(e as ApiError).code}: ${(e as ApiError).message}`;
  }
  return 'none';
}

const fields = (s: EventInvokeSettings): string =>
  thrown(() => {
    const v = new Violations();
    checkEventInvokeFields(s, v);
    v.throwIfAny();
  });

describe('functionTarget', () => {
  it('reads functions of this region and account, with or without a qualifier', () => {
    assert.deepEqual(functionTarget(fn('f'), account), { functionName: 'f' });
    assert.deepEqual(functionTarget(fn('f:live'), account), { functionName: 'f', qualifier: 'live' });
    assert.deepEqual(functionTarget(fn('f:$LATEST'), account), { functionName: 'f', qualifier: '$LATEST' });
    assert.deepEqual(functionTarget(fn('f:7'), account), { functionName: 'f', qualifier: '7' });
  });

  it('answers undefined for anything Kiln cannot deliver to', () => {
    for (const arn of [
      'arn:aws:lambda:eu-west-1:000000000000:function:f',
      'arn:aws:lambda:us-east-1:111111111111:function:f',
      'arn:aws:sqs:us-east-1:000000000000:q',
      'arn:aws:lambda:us-east-1:000000000000:layer:l',
      fn('f:a:b'),
      fn('bad name'),
    ]) {
      assert.equal(functionTarget(arn, account), undefined, arn);
    }
  });
});

describe('deadLetterTarget', () => {
  it('takes a function ARN and names the kind and the fix for SQS and SNS', () => {
    assert.deepEqual(deadLetterTarget(fn('dlq'), account), { functionName: 'dlq' });
    assert.match(
      thrown(() => deadLetterTarget('arn:aws:sqs:us-east-1:000000000000:dlq', account)),
      /^InvalidParameterValueException: .*Kiln does not host SQS queues yet; use a Lambda function ARN/,
    );
    assert.match(
      thrown(() => deadLetterTarget('arn:aws:sns:us-east-1:000000000000:t', account)),
      /Kiln does not host SNS topics yet/,
    );
    assert.match(
      thrown(() => deadLetterTarget('arn:aws:iam::000000000000:role/r', account)),
      /^InvalidParameterValueException: .*SQS queue or SNS topic ARN.*Lambda function ARN of region us-east-1/,
    );
  });
});

describe('checkEventInvokeFields', () => {
  it('accepts the limits and refuses values past them in Lambda words', () => {
    assert.equal(fields({ maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 }), 'none');
    assert.equal(fields({ maximumRetryAttempts: 2, maximumEventAgeInSeconds: 21600 }), 'none');
    assert.equal(
      fields({ maximumRetryAttempts: 3 }),
      "ValidationException: 1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
    );
    assert.equal(
      fields({ maximumRetryAttempts: -1, maximumEventAgeInSeconds: 59 }),
      "ValidationException: 2 validation errors detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to 0; Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
    );
    assert.match(fields({ maximumEventAgeInSeconds: 21601 }), /less than or equal to 21600/);
  });

  it('checks destination ARNs against the pattern and length, an empty one meaning none', () => {
    assert.equal(fields({ onSuccess: '', onFailure: fn('f') }), 'none');
    assert.equal(
      fields({ onFailure: 'arn:aws:_-/!lambda:us-east-1:000000000000:function:f' }),
      "ValidationException: 1 validation error detected: Value 'arn:aws:_-/!lambda:us-east-1:000000000000:function:f' at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: ^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)",
    );
    assert.match(fields({ onSuccess: 'not-an-arn' }), /'destinationConfig\.onSuccess\.destination'/);
    assert.match(fields({ onSuccess: fn('x'.repeat(340)) }), /length less than or equal to 350/);
  });

  it('requires at least one setting', () => {
    assert.equal(
      thrown(() => requireSomeSetting(false)),
      'InvalidParameterValueException: You must specify at least one of error handling or destination setting.',
    );
    assert.equal(
      thrown(() => requireSomeSetting(true)),
      'none',
    );
  });
});

describe('checkDestinations', () => {
  const existing = new Set(['other', 'other:live']);
  const check = (s: EventInvokeSettings): string =>
    thrown(() =>
      checkDestinations(s, account, 'self', (t) =>
        existing.has(t.qualifier === undefined ? t.functionName : `${t.functionName}:${t.qualifier}`),
      ),
    );

  it('accepts existing functions of this account other than itself', () => {
    assert.equal(check({ onSuccess: fn('other'), onFailure: fn('other:live') }), 'none');
    assert.equal(check({}), 'none');
  });

  it('refuses the function itself, missing targets, other regions and hosted-elsewhere kinds', () => {
    assert.equal(
      check({ onSuccess: fn('self:live') }),
      "InvalidParameterValueException: You can't specify the function as a destination for itself.",
    );
    assert.match(
      check({ onFailure: fn('nope') }),
      /^InvalidParameterValueException: The destination ARN .*:function:nope is invalid/,
    );
    assert.match(check({ onFailure: fn('other:gone') }), /is invalid/);
    assert.match(
      check({ onFailure: 'arn:aws:lambda:eu-west-1:000000000000:function:other' }),
      /is invalid: Kiln delivers only to functions of region us-east-1/,
    );
    for (const [arn, kind] of [
      ['arn:aws:sqs:us-east-1:000000000000:q', 'SQS queues'],
      ['arn:aws:sns:us-east-1:000000000000:t', 'SNS topics'],
      ['arn:aws:events:us-east-1:000000000000:event-bus/default', 'EventBridge event buses'],
      ['arn:aws:s3:::bucket', 'S3 buckets'],
    ] as const) {
      assert.equal(
        check({ onFailure: arn }),
        `InvalidParameterValueException: OnFailure destination ${arn}: Kiln does not host ${kind} yet; use a Lambda function ARN.`,
      );
    }
    assert.match(
      check({ onSuccess: 'arn:aws:iam:us-east-1:000000000000:function:self' }),
      /^InvalidParameterValueException: The provided destination config DestinationConfig\(onSuccess=OnSuccess\(destination=arn:aws:iam:us-east-1:000000000000:function:self\), onFailure=null\) is invalid\./,
    );
    // S3 takes failures only; on success it is as invalid as any other service.
    assert.match(check({ onSuccess: 'arn:aws:s3:::bucket' }), /The provided destination config/);
  });
});

describe('compareQualifiers', () => {
  it('orders $LATEST, versions by number, then aliases by name', () => {
    assert.deepEqual(['b', '10', 'a', '$LATEST', '9'].sort(compareQualifiers), [
      '$LATEST',
      '9',
      '10',
      'a',
      'b',
    ]);
  });
});

describe('effectiveAsyncSettings', () => {
  it("fills in Lambda's defaults for what a configuration leaves out, and for no configuration", () => {
    assert.deepEqual(effectiveAsyncSettings(undefined), {
      maximumRetryAttempts: 2,
      maximumEventAgeInSeconds: 21600,
    });
    assert.deepEqual(
      effectiveAsyncSettings({
        functionName: 'f',
        qualifier: '$LATEST',
        maximumRetryAttempts: 0,
        onFailure: fn('dlq'),
        lastModified: 1,
      }),
      { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 21600, onFailure: fn('dlq') },
    );
  });
});
