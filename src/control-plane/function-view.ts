// Renders stored records as Lambda's FunctionConfiguration and AliasConfiguration JSON.
import {
  aliasArn,
  codeSha256Base64,
  functionArn,
  lambdaTimestamp,
  type Account,
  type AliasRecord,
  type FunctionRecord,
  type VersionRecord,
} from '../model/index.js';

/**
 * `arnQualifier` is what the caller named (`$LATEST`, a version or an alias): Lambda qualifies
 * FunctionArn with it, and leaves it unqualified for an unqualified read of `$LATEST`.
 */
export function functionConfiguration(
  account: Account,
  rec: FunctionRecord | VersionRecord,
  arnQualifier?: string,
): Record<string, unknown> {
  const c = rec.config;
  const version = 'version' in rec ? rec.version : '$LATEST';
  const out: Record<string, unknown> = {
    FunctionName: c.name,
    FunctionArn: functionArn(account, c.name, arnQualifier ?? ('version' in rec ? rec.version : undefined)),
    Runtime: c.runtime,
    Role: c.role,
    Handler: c.handler,
    CodeSize: rec.code.size,
    Description: c.description,
    Timeout: c.timeout,
    MemorySize: c.memorySize,
    LastModified: lambdaTimestamp(rec.lastModified),
    CodeSha256: codeSha256Base64(rec.code.sha256Hex),
    Version: version,
    TracingConfig: { Mode: 'PassThrough' },
    RevisionId: rec.revisionId,
    State: 'Active',
    LastUpdateStatus: 'Successful',
    PackageType: 'Zip',
    Architectures: [c.architecture],
    EphemeralStorage: { Size: c.ephemeralStorage },
    SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
    LoggingConfig: { LogFormat: 'Text', LogGroup: `/aws/lambda/${c.name}` },
  };
  if (Object.keys(c.environment).length > 0) out.Environment = { Variables: { ...c.environment } };
  // Lambda leaves DeadLetterConfig out when none is configured.
  if (c.deadLetterTargetArn !== undefined) out.DeadLetterConfig = { TargetArn: c.deadLetterTargetArn };
  return out;
}

export function aliasConfiguration(account: Account, a: AliasRecord): Record<string, unknown> {
  return {
    AliasArn: aliasArn(account, a.functionName, a.name),
    Name: a.name,
    FunctionVersion: a.functionVersion,
    Description: a.description,
    ...(Object.keys(a.weights).length > 0
      ? { RoutingConfig: { AdditionalVersionWeights: { ...a.weights } } }
      : {}),
    RevisionId: a.revisionId,
  };
}
