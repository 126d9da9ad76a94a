// Where records of asynchronous invocations may go. Lambda accepts functions, SQS queues, SNS topics,
// EventBridge buses and S3 buckets (on failure only) as destinations, and SQS queues or SNS topics as a
// function's dead-letter queue. Kiln hosts only functions so far, so it delivers only to functions of its
// own region and account, and refuses the other kinds when they are configured rather than when an event
// would have reached them.
import { invalidParameter } from './errors.js';
import type { Account } from './function-name.js';

/** A Lambda function named by a destination or dead-letter ARN: where Kiln delivers. */
export interface FunctionTarget {
  readonly functionName: string;
  /** `$LATEST`, a version number or an alias name; absent for an unqualified ARN. */
  readonly qualifier?: string;
}

const functionArnPattern =
  /^arn:aws[a-zA-Z-]*:lambda:([a-z]{2}(?:-gov)?-[a-z]+-\d):(\d{12}):function:([a-zA-Z0-9-_]{1,64})(?::(\$LATEST|[a-zA-Z0-9-_]{1,128}))?$/;

/** Services whose ARNs Lambda takes as targets but Kiln does not host, as their users call them. */
const notHosted: Readonly<Record<string, string>> = {
  sqs: 'SQS queues',
  sns: 'SNS topics',
  events: 'EventBridge event buses',
  s3: 'S3 buckets',
};

/**
 * The function a stored destination or dead-letter ARN names, or undefined when it names anything else
 * (another service, region or account). Configuration only stores ARNs for which this answers a target.
 */
export function functionTarget(arn: string, account: Account): FunctionTarget | undefined {
  const m = functionArnPattern.exec(arn);
  if (!m || m[1] !== account.region || m[2] !== account.accountId) return undefined;
  const [, , , functionName = '', qualifier] = m;
  return qualifier === undefined ? { functionName } : { functionName, qualifier };
}

/** The AWS service an ARN names (`arn:<partition>:<service>:…`). */
export const arnService = (arn: string): string => arn.split(':')[2] ?? '';

/** What Kiln says when an ARN names a service it does not host yet; undefined for other services. */
export function notHostedYet(arn: string): string | undefined {
  const kind = notHosted[arnService(arn)];
  return kind && `Kiln does not host ${kind} yet; use a Lambda function ARN`;
}

/**
 * The function a DeadLetterConfig.TargetArn names. Lambda takes an SQS queue or SNS topic there; Kiln,
 * until it hosts those, takes a function of its own region and account instead, invoked asynchronously
 * with the failed event.
 */
export function deadLetterTarget(arn: string, account: Account): FunctionTarget {
  const target = functionTarget(arn, account);
  if (target) return target;
  const hint = notHostedYet(arn);
  if (hint) throw invalidParameter(`The dead-letter target ${arn} is not usable: ${hint}.`);
  throw invalidParameter(
    `The dead-letter target ${arn} is not usable: Lambda takes an SQS queue or SNS topic ARN, and Kiln a Lambda function ARN of region ${account.region} and account ${account.accountId} (arn:aws:lambda:${account.region}:${account.accountId}:function:NAME).`,
  );
}
