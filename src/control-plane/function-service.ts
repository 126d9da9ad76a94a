// The function operations of the management API: validation, then code store, then one metadata transaction.
import {
  ApiError,
  Violations,
  checkConfigFields,
  checkEnvironment,
  checkHandlerForRuntime,
  checkRuntime,
  classifyQualifier,
  deadLetterTarget,
  functionArn,
  invalidParameter,
  isBareName,
  limits,
  notFound,
  parseFunctionName,
  resolveQualifier,
  type Account,
  type CodeRef,
  type FunctionConfig,
  type FunctionRecord,
  type FunctionRef,
} from '../model/index.js';
import { newId } from '../shared/index.js';
import type { ListPage } from '../store/index.js';
import {
  decodeZipFile,
  type CreateFunctionBody,
  type PublishVersionBody,
  type UpdateCodeBody,
  type UpdateConfigBody,
} from './requests.js';
import { refuseUnsupported } from './unsupported-features.js';
import { targetExists } from './function-target.js';
import { AliasService } from './alias-service.js';
import type { FunctionServiceDeps } from './service-deps.js';
import { VersionService, type Resolved } from './version-service.js';

export type { FunctionServiceDeps } from './service-deps.js';

/** The function operations of one account (`d.account`, `d.metadata`). */
export class FunctionService {
  readonly versions: VersionService;
  readonly aliases: AliasService;

  constructor(private readonly d: FunctionServiceDeps) {
    this.versions = new VersionService(d);
    this.aliases = new AliasService(d);
  }

  /** CreateFunction; with `Publish`, answers with version 1 (or the version it published). */
  async create(body: CreateFunctionBody): Promise<FunctionRecord> {
    const v = new Violations();
    if (body.FunctionName === undefined) v.add('functionName', undefined, 'Member must not be null');
    if (body.Role === undefined) v.add('role', undefined, 'Member must not be null');
    if (body.Code === undefined) v.add('code', undefined, 'Member must not be null');
    checkConfigFields(fieldsOf(body), v);
    v.throwIfAny();
    const ref = parseFunctionName(body.FunctionName ?? '', this.d.account);
    if (ref.qualifier !== undefined || !isBareName(ref.name)) {
      throw invalidParameter('A function name given to CreateFunction cannot carry a qualifier.');
    }
    if ((body.PackageType ?? 'Zip') !== 'Zip') {
      throw invalidParameter(`PackageType ${body.PackageType} is not supported by Kiln yet; use Zip.`);
    }
    if (body.Runtime === undefined || body.Handler === undefined) {
      throw invalidParameter(
        'Runtime and Handler are mandatory parameters for functions created with deployment packages.',
      );
    }
    refuseUnsupported(body);
    const runtime = checkRuntime(body.Runtime);
    checkHandlerForRuntime(body.Handler, runtime);
    const environment = body.Environment?.Variables ?? {};
    checkEnvironment(environment);
    if (this.d.metadata.get(ref.name)) throw conflict(this.d.account, ref.name);
    const deadLetter = this.deadLetter(ref.name, body.DeadLetterConfig?.TargetArn);
    const zip = zipOf(body.Code ?? {});

    const config: FunctionConfig = {
      name: ref.name,
      runtime,
      role: body.Role ?? '',
      handler: body.Handler,
      description: body.Description ?? '',
      timeout: body.Timeout ?? limits.timeoutDefault,
      memorySize: body.MemorySize ?? limits.memoryDefault,
      ephemeralStorage: body.EphemeralStorage?.Size ?? limits.ephemeralDefault,
      environment,
      architecture: 'x86_64',
      // Last, where an update puts it too: PublishVersion compares configurations as JSON text.
      ...(deadLetter === undefined ? {} : { deadLetterTargetArn: deadLetter }),
    };
    const created = await this.withStoredCode(zip, (code) => {
      const record: FunctionRecord = {
        config,
        code,
        revisionId: newId(),
        tags: body.Tags ?? {},
        lastModified: this.d.clock.now(),
      };
      this.d.failpoint('before-commit');
      this.d.metadata.create(record);
      this.d.failpoint('after-commit');
      this.d.log.info({ function: config.name, sha256: code.sha256Hex }, 'function created');
      return record;
    });
    return body.Publish ? this.versions.publish(config.name, { revisionId: created.revisionId }) : created;
  }

  /** GetFunction / GetFunctionConfiguration: `$LATEST`, a version, or the version an alias points to. */
  get(rawName: string, qualifier?: string): Resolved {
    const ref = resolveQualifier(parseFunctionName(rawName, this.d.account), qualifier);
    return this.versions.resolve(ref.name, ref.qualifier);
  }

  publish(rawName: string, body: PublishVersionBody): FunctionRecord {
    const ref = this.resolve(rawName, undefined);
    return this.versions.publish(ref.name, {
      ...(body.CodeSha256 !== undefined ? { codeSha256: body.CodeSha256 } : {}),
      ...(body.Description !== undefined ? { description: body.Description } : {}),
      ...(body.RevisionId !== undefined ? { revisionId: body.RevisionId } : {}),
    });
  }

  list(maxItems: number | undefined, marker: string | undefined): ListPage<FunctionRecord> {
    const n = Math.min(maxItems ?? limits.listMaxItems, limits.listMaxItems);
    return this.d.metadata.list(n, marker);
  }

  usage(): { functionCount: number; totalCodeSize: number } {
    return this.d.metadata.usage();
  }

  async updateCode(rawName: string, body: UpdateCodeBody): Promise<FunctionRecord> {
    const ref = this.resolve(rawName, undefined);
    const current = this.mustGet(ref.name);
    checkRevision(current, body.RevisionId);
    if (body.Architectures && body.Architectures.some((a) => a !== 'x86_64')) {
      throw invalidParameter('Kiln runs x86_64 functions only; drop Architectures or set it to ["x86_64"].');
    }
    const zip = zipOf(body);
    if (body.DryRun) {
      // Validate the package fully, store nothing.
      return { ...current, code: await this.d.code.inspect(zip) };
    }
    const updated = await this.withStoredCode(zip, (code) => {
      const record: FunctionRecord = {
        ...current,
        code,
        revisionId: newId(),
        lastModified: this.d.clock.now(),
      };
      this.d.failpoint('before-commit');
      this.commitReplace(record, current.revisionId);
      this.d.failpoint('after-commit');
      return record;
    });
    this.d.log.info({ function: ref.name, sha256: updated.code.sha256Hex }, 'function code updated');
    this.d.onChange?.(ref.name, '$LATEST', updated.revisionId);
    await this.d.garbage.collect();
    return body.Publish ? this.versions.publish(ref.name, { revisionId: updated.revisionId }) : updated;
  }

  updateConfiguration(rawName: string, body: UpdateConfigBody): FunctionRecord {
    const ref = this.resolve(rawName, undefined);
    const v = new Violations();
    checkConfigFields(fieldsOf(body), v);
    v.throwIfAny();
    const current = this.mustGet(ref.name);
    checkRevision(current, body.RevisionId);
    refuseUnsupported(body);
    const runtime = body.Runtime === undefined ? current.config.runtime : checkRuntime(body.Runtime);
    const handler = body.Handler ?? current.config.handler;
    checkHandlerForRuntime(handler, runtime);
    const environment =
      body.Environment === undefined ? current.config.environment : (body.Environment.Variables ?? {});
    checkEnvironment(environment);
    const c = current.config;
    // As Lambda: DeadLetterConfig left out keeps the target, an empty TargetArn removes it.
    const deadLetter =
      body.DeadLetterConfig === undefined
        ? c.deadLetterTargetArn
        : this.deadLetter(ref.name, body.DeadLetterConfig.TargetArn);
    const record: FunctionRecord = {
      ...current,
      config: withDeadLetter(
        {
          ...c,
          runtime,
          handler,
          role: body.Role ?? c.role,
          description: body.Description ?? c.description,
          timeout: body.Timeout ?? c.timeout,
          memorySize: body.MemorySize ?? c.memorySize,
          ephemeralStorage: body.EphemeralStorage?.Size ?? c.ephemeralStorage,
          environment,
        },
        deadLetter,
      ),
      revisionId: newId(),
      lastModified: this.d.clock.now(),
    };
    this.commitReplace(record, current.revisionId);
    this.d.log.info({ function: ref.name }, 'function configuration updated');
    this.d.onChange?.(ref.name, '$LATEST', record.revisionId);
    return record;
  }

  /** DeleteFunction: the whole function (versions and aliases too), or one version. */
  async delete(rawName: string, qualifier?: string): Promise<void> {
    const ref = resolveQualifier(parseFunctionName(rawName, this.d.account), qualifier);
    const q = classifyQualifier(ref.qualifier);
    if (ref.qualifier === '$LATEST') {
      throw invalidParameter('$LATEST version cannot be deleted without deleting the function.');
    }
    if (q.kind === 'alias') {
      throw invalidParameter(
        `Deletion of aliases is not supported through DeleteFunction: call DeleteAlias for alias '${q.name}'.`,
      );
    }
    if (q.kind === 'version') {
      this.versions.delete(ref.name, q.version);
      await this.d.garbage.collect();
      return;
    }
    if (!this.d.metadata.delete(ref.name)) throw this.missing(ref.name);
    this.d.log.info({ function: ref.name }, 'function deleted');
    this.d.onChange?.(ref.name);
    await this.d.garbage.collect();
  }

  private resolve(rawName: string, queryQualifier: string | undefined): FunctionRef {
    const ref = resolveQualifier(parseFunctionName(rawName, this.d.account), queryQualifier);
    // Only $LATEST can change: published versions are immutable and aliases are changed with UpdateAlias.
    if (ref.qualifier !== undefined && ref.qualifier !== '$LATEST') {
      throw invalidParameter(
        `Only $LATEST can be changed; '${ref.qualifier}' is a published version or an alias. Drop the qualifier.`,
      );
    }
    return ref;
  }

  /**
   * DeadLetterConfig.TargetArn of `functionName`: Kiln's stand-in for Lambda's SQS queue or SNS topic is
   * another function of this account, which must exist (so a typo fails now, not at the first failed
   * event). Undefined for none.
   */
  private deadLetter(functionName: string, arn: string | undefined): string | undefined {
    if (!arn) return undefined;
    const target = deadLetterTarget(arn, this.d.account);
    if (target.functionName === functionName) {
      throw invalidParameter(
        `The dead-letter target ${arn} is the function itself, whose failed events would come back to it; name another function.`,
      );
    }
    if (!targetExists(this.d.metadata, target)) {
      throw invalidParameter(
        `The dead-letter target ${arn} is not usable: no such function, version or alias; create it first.`,
      );
    }
    return arn;
  }

  private mustGet(name: string): FunctionRecord {
    const rec = this.d.metadata.get(name);
    if (!rec) throw this.missing(name);
    return rec;
  }

  private missing(name: string): ApiError {
    return notFound(`Function not found: ${functionArn(this.d.account, name)}`);
  }

  private commitReplace(record: FunctionRecord, expectedRevisionId: string): void {
    if (this.d.metadata.replace(record, expectedRevisionId)) return;
    if (!this.d.metadata.get(record.config.name)) throw this.missing(record.config.name);
    throw new ApiError(
      'ResourceConflictException',
      `The operation cannot be performed at this time. An update is in progress for resource: ${functionArn(this.d.account, record.config.name)}`,
    );
  }

  /** Stores the zip, then runs `commit` while the package is protected from garbage collection. */
  private async withStoredCode<T>(zip: Buffer, commit: (code: CodeRef) => T): Promise<T> {
    const code = await this.d.code.put(zip);
    this.d.garbage.hold(code.sha256Hex);
    let result: T;
    try {
      result = commit(code);
    } catch (e) {
      this.d.garbage.release(code.sha256Hex);
      await this.d.garbage.collect();
      throw e;
    }
    this.d.garbage.release(code.sha256Hex);
    return result;
  }
}

function fieldsOf(b: CreateFunctionBody | UpdateConfigBody) {
  return {
    role: b.Role,
    handler: b.Handler,
    description: b.Description,
    timeout: b.Timeout,
    memorySize: b.MemorySize,
    ephemeralStorage: b.EphemeralStorage?.Size,
    environment: b.Environment?.Variables,
    deadLetterTargetArn: b.DeadLetterConfig?.TargetArn,
  };
}

/** The configuration with `arn` as its dead-letter target, or none. */
function withDeadLetter(c: FunctionConfig, arn: string | undefined): FunctionConfig {
  const out: { -readonly [K in keyof FunctionConfig]: FunctionConfig[K] } = { ...c };
  if (arn === undefined) delete out.deadLetterTargetArn;
  else out.deadLetterTargetArn = arn;
  return out;
}

function zipOf(code: { ZipFile?: string; S3Bucket?: string; S3Key?: string; ImageUri?: string }): Buffer {
  if (code.S3Bucket !== undefined || code.S3Key !== undefined) {
    throw invalidParameter('Kiln does not host S3: upload the package inline as ZipFile.');
  }
  if (code.ImageUri !== undefined) {
    throw invalidParameter('Container images are not supported by Kiln yet: upload a zip as ZipFile.');
  }
  if (code.ZipFile === undefined) {
    throw invalidParameter('Please provide a source for function code: the deployment package as ZipFile.');
  }
  const zip = decodeZipFile(code.ZipFile);
  if (zip.length === 0) {
    throw invalidParameter(
      'Could not unzip uploaded file. Please check your file, then try to upload again. (empty package)',
    );
  }
  return zip;
}

function checkRevision(current: FunctionRecord, revisionId: string | undefined): void {
  if (revisionId !== undefined && revisionId !== current.revisionId) {
    throw new ApiError(
      'PreconditionFailedException',
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    );
  }
}

function conflict(account: Account, name: string): ApiError {
  return new ApiError('ResourceConflictException', `Function already exist: ${functionArn(account, name)}`);
}
