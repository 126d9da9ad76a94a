// Renders stored records as Lambda's FunctionConfiguration JSON.
import {
  codeSha256Base64,
  functionArn,
  lambdaTimestamp,
  type Account,
  type FunctionRecord,
} from '../model/index.js';

export function functionConfiguration(account: Account, rec: FunctionRecord): Record<string, unknown> {
  const c = rec.config;
  const out: Record<string, unknown> = {
    FunctionName: c.name,
    FunctionArn: functionArn(account, c.name),
    Runtime: c.runtime,
    Role: c.role,
    Handler: c.handler,
    CodeSize: rec.code.size,
    Description: c.description,
    Timeout: c.timeout,
    MemorySize: c.memorySize,
    LastModified: lambdaTimestamp(rec.lastModified),
    CodeSha256: codeSha256Base64(rec.code.sha256Hex),
    Version: '$LATEST',
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
  return out;
}
