// A function's stored record and the limits Lambda documents for it.

export const supportedRuntimes = ['nodejs20.x', 'python3.11', 'provided.al2023', 'provided.al2'] as const;
export type Runtime = (typeof supportedRuntimes)[number];

export const limits = {
  nameMaxLength: 64,
  timeoutMin: 1,
  timeoutMax: 900,
  timeoutDefault: 3,
  memoryMin: 128,
  memoryMax: 10240,
  memoryDefault: 128,
  ephemeralMin: 512,
  ephemeralMax: 10240,
  ephemeralDefault: 512,
  descriptionMax: 256,
  handlerMax: 128,
  envTotalBytes: 4096,
  /** Zipped deployment package uploaded inline (CreateFunction / UpdateFunctionCode). */
  zippedBytes: 50 * 1024 * 1024,
  /** Unzipped deployment package, layers included. */
  unzippedBytes: 262_144_000,
  /** Request body cap for operations that carry a base64 zip: Lambda's figure. */
  codeRequestBytes: 69_905_067,
  /** Total code storage per account (Lambda's default quota, 75 GB). */
  totalCodeBytes: 80_530_636_800,
  /** Entries one package may hold; far above real node_modules trees, far below a denial of service. */
  zipEntries: 100_000,
  /** Uncompressed/compressed ratio above which an archive is treated as a bomb (deflate tops out near 1032:1). */
  zipMaxRatio: 1100,
  listMaxItems: 50,
  /** Lambda keeps at least this much of the account's concurrency unreserved. */
  minimumUnreservedConcurrency: 100,
} as const;

export interface FunctionConfig {
  readonly name: string;
  readonly runtime: Runtime;
  readonly role: string;
  readonly handler: string;
  readonly description: string;
  readonly timeout: number;
  readonly memorySize: number;
  readonly ephemeralStorage: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly architecture: 'x86_64';
  /**
   * DeadLetterConfig.TargetArn: where an asynchronous event goes after its last failed attempt. Lambda
   * takes an SQS queue or SNS topic; Kiln a function of its own region and account (see destination-arn.ts).
   * Absent when none is configured. Part of the configuration, so published versions keep their own.
   */
  readonly deadLetterTargetArn?: string;
}

export interface CodeRef {
  /** Lowercase hex sha256 of the zip: the code store's key. */
  readonly sha256Hex: string;
  readonly size: number;
  readonly unzippedSize: number;
}

/** One function's `$LATEST`, as stored. */
export interface FunctionRecord {
  readonly config: FunctionConfig;
  readonly code: CodeRef;
  readonly revisionId: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Epoch milliseconds of the last create or update. */
  readonly lastModified: number;
}
