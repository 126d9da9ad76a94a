// JSON request bodies of the function operations. Shape and type errors become InvalidRequestContentException;
// value constraints are checked afterwards with Lambda's wording (model/function-rules.ts).
import { z } from 'zod';
import { ApiError } from '../model/index.js';

const envSchema = z
  .object({ Variables: z.record(z.string()).optional() })
  .strict()
  .partial();

const configMembers = {
  Role: z.string(),
  Handler: z.string(),
  Description: z.string(),
  Timeout: z.number().int(),
  MemorySize: z.number().int(),
  Runtime: z.string(),
  Environment: envSchema,
  EphemeralStorage: z.object({ Size: z.number().int() }),
  // Accepted only in their "off" form: Kiln does not host these features yet.
  VpcConfig: z.object({
    SubnetIds: z.array(z.string()).optional(),
    SecurityGroupIds: z.array(z.string()).optional(),
    Ipv6AllowedForDualStack: z.boolean().optional(),
  }),
  TracingConfig: z.object({ Mode: z.string().optional() }),
  Layers: z.array(z.string()),
  DeadLetterConfig: z.object({ TargetArn: z.string().optional() }),
  KMSKeyArn: z.string(),
  FileSystemConfigs: z.array(z.unknown()),
  ImageConfig: z.unknown(),
  SnapStart: z.object({ ApplyOn: z.string().optional() }),
  LoggingConfig: z.object({
    LogFormat: z.string().optional(),
    LogGroup: z.string().optional(),
    ApplicationLogLevel: z.string().optional(),
    SystemLogLevel: z.string().optional(),
  }),
};

export const createFunctionBody = z
  .object({
    FunctionName: z.string(),
    Code: z.object({
      ZipFile: z.string().optional(),
      S3Bucket: z.string().optional(),
      S3Key: z.string().optional(),
      S3ObjectVersion: z.string().optional(),
      ImageUri: z.string().optional(),
      SourceKMSKeyArn: z.string().optional(),
    }),
    PackageType: z.string(),
    Publish: z.boolean(),
    Architectures: z.array(z.string()),
    Tags: z.record(z.string()),
    CodeSigningConfigArn: z.string(),
    ...configMembers,
  })
  .partial();
export type CreateFunctionBody = z.infer<typeof createFunctionBody>;

export const updateCodeBody = z
  .object({
    ZipFile: z.string(),
    S3Bucket: z.string(),
    S3Key: z.string(),
    S3ObjectVersion: z.string(),
    ImageUri: z.string(),
    Publish: z.boolean(),
    DryRun: z.boolean(),
    RevisionId: z.string(),
    Architectures: z.array(z.string()),
    SourceKMSKeyArn: z.string(),
  })
  .partial();
export type UpdateCodeBody = z.infer<typeof updateCodeBody>;

export const updateConfigBody = z.object({ RevisionId: z.string(), ...configMembers }).partial();
export type UpdateConfigBody = z.infer<typeof updateConfigBody>;

export const publishVersionBody = z
  .object({ CodeSha256: z.string(), Description: z.string(), RevisionId: z.string() })
  .partial();
export type PublishVersionBody = z.infer<typeof publishVersionBody>;

const routingConfig = z.object({ AdditionalVersionWeights: z.record(z.number()).optional() });

export const createAliasBody = z
  .object({
    Name: z.string(),
    FunctionVersion: z.string(),
    Description: z.string(),
    RoutingConfig: routingConfig,
  })
  .partial();
export type CreateAliasBody = z.infer<typeof createAliasBody>;

export const updateAliasBody = z
  .object({
    FunctionVersion: z.string(),
    Description: z.string(),
    RoutingConfig: routingConfig,
    RevisionId: z.string(),
  })
  .partial();
export type UpdateAliasBody = z.infer<typeof updateAliasBody>;

const destination = z.object({ Destination: z.string().optional() });

/** Put/UpdateFunctionEventInvokeConfig. */
export const eventInvokeConfigBody = z
  .object({
    MaximumRetryAttempts: z.number().int(),
    MaximumEventAgeInSeconds: z.number().int(),
    DestinationConfig: z.object({ OnSuccess: destination.optional(), OnFailure: destination.optional() }),
  })
  .partial();
export type EventInvokeConfigBody = z.infer<typeof eventInvokeConfigBody>;

/** Parses a JSON body against a schema; an empty body counts as `{}`. */
export function parseJsonBody<T>(schema: z.ZodType<T>, body: unknown): T {
  let value: unknown = {};
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ApiError(
        'InvalidRequestContentException',
        `Could not parse request body into json: ${(e as Error).message}. Send a JSON object.`,
      );
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(
      'InvalidRequestContentException',
      'Could not parse request body into json: expected a JSON object.',
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(body)';
    throw new ApiError(
      'InvalidRequestContentException',
      `Could not parse request body into json: member '${where}' ${issue?.message.toLowerCase() ?? 'is invalid'}.`,
    );
  }
  return parsed.data;
}

/** Decodes `ZipFile`, which the clients send as base64 text. */
export function decodeZipFile(b64: string): Buffer {
  const decoded = Buffer.from(b64, 'base64');
  // Fast path for what every client sends, canonical base64: re-encoding reproduces it exactly.
  if (decoded.toString('base64') === b64) return decoded;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64.replace(/\s+/g, ''))) {
    throw new ApiError(
      'InvalidRequestContentException',
      'Could not parse request body into json: ZipFile is not valid base64.',
    );
  }
  return decoded;
}
