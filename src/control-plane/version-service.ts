// Published versions: PublishVersion, ListVersionsByFunction, and resolving `name:qualifier` for reads.
import {
  ApiError,
  classifyQualifier,
  codeSha256Base64,
  functionArn,
  invalidParameter,
  limits,
  notFound,
  aliasNotFound,
  type FunctionRecord,
  type VersionRecord,
} from '../model/index.js';
import { newId } from '../shared/index.js';
import type { FunctionServiceDeps } from './service-deps.js';
import { decodeMarker, encodeMarker } from './paging.js';

export interface PublishOptions {
  readonly codeSha256?: string;
  readonly description?: string;
  readonly revisionId?: string;
}

/** A record to show, and the qualifier its FunctionArn carries (none for an unqualified read). */
export interface Resolved {
  readonly record: FunctionRecord | VersionRecord;
  readonly arnQualifier?: string;
}

export class VersionService {
  constructor(private readonly d: FunctionServiceDeps) {}

  /**
   * Publishes `$LATEST`. When the newest version already has the same code and configuration, Lambda
   * publishes nothing and answers with that version; so does Kiln.
   */
  publish(name: string, o: PublishOptions = {}): VersionRecord {
    const latest = this.d.metadata.get(name);
    if (!latest) throw this.missing(name);
    if (o.codeSha256 !== undefined && o.codeSha256 !== codeSha256Base64(latest.code.sha256Hex)) {
      throw invalidParameter(
        `CodeSHA256 (${o.codeSha256}) is different from current CodeSHA256 in $LATEST (${codeSha256Base64(latest.code.sha256Hex)}). Please try again.`,
      );
    }
    if (o.revisionId !== undefined && o.revisionId !== latest.revisionId) throw preconditionFailed();
    const newest = this.d.metadata.newestVersion(name);
    if (newest && sameSnapshot(newest, latest)) return newest;
    const published = this.d.metadata.publishVersion(name, latest.revisionId, (rec, version) => ({
      ...rec,
      config: { ...rec.config, description: o.description ?? rec.config.description },
      version,
      revisionId: newId(),
      lastModified: this.d.clock.now(),
    }));
    if (!published) {
      if (!this.d.metadata.get(name)) throw this.missing(name);
      // $LATEST changed between the read and the publish: the caller published something it never saw.
      throw preconditionFailed();
    }
    this.d.log.info({ function: name, version: published.version }, 'version published');
    return published;
  }

  /** `$LATEST` first, then versions by number, as Lambda lists them. */
  list(
    name: string,
    maxItems: number | undefined,
    marker: string | undefined,
  ): { items: Resolved[]; nextMarker?: string } {
    const latest = this.d.metadata.get(name);
    if (!latest) throw this.missing(name);
    const n = Math.min(maxItems ?? limits.listMaxItems, limits.listMaxItems);
    const after = decodeMarker('versions', marker);
    if (after !== undefined && !/^[0-9]+$/.test(after)) {
      throw new ApiError(
        'InvalidParameterValueException',
        'Invalid Marker: pass the NextMarker of a previous response of the same operation.',
      );
    }
    const items: Resolved[] = [];
    let afterVersion = 0;
    if (after === undefined) items.push({ record: latest, arnQualifier: '$LATEST' });
    else afterVersion = Number(after);
    const versions = this.d.metadata.listVersions(name, afterVersion, n - items.length + 1);
    for (const v of versions) items.push({ record: v, arnQualifier: v.version });
    const page = items.slice(0, n);
    if (items.length <= n) return { items: page };
    const last = page[page.length - 1]?.record;
    const lastKey = last && 'version' in last ? last.version : '0';
    return { items: page, nextMarker: encodeMarker('versions', lastKey) };
  }

  /** What GetFunction / GetFunctionConfiguration show for `name` and an optional qualifier. */
  resolve(name: string, qualifier: string | undefined): Resolved {
    const latest = this.d.metadata.get(name);
    if (!latest) throw this.missing(name);
    const q = classifyQualifier(qualifier);
    // `$LATEST` reads unqualified however it was named, as Kiln's GetFunction always has.
    if (q.kind === 'latest') return { record: latest };
    if (q.kind === 'version')
      return { record: this.mustGetVersion(name, q.version), arnQualifier: q.version };
    const alias = this.d.metadata.getAlias(name, q.name);
    if (!alias) throw aliasNotFound(this.d.account, name, q.name);
    const record =
      alias.functionVersion === '$LATEST' ? latest : this.mustGetVersion(name, alias.functionVersion);
    return { record, arnQualifier: q.name };
  }

  /** DeleteFunction with a version number: refused while an alias routes to it. */
  delete(name: string, version: string): void {
    if (!this.d.metadata.get(name)) throw this.missing(name);
    const { deleted, referencedBy } = this.d.metadata.deleteVersion(name, version);
    if (referencedBy.length > 0) {
      throw new ApiError(
        'ResourceConflictException',
        `Unable to delete version because the following aliases reference it: [${referencedBy.join(', ')}]`,
      );
    }
    if (!deleted) throw notFound(`Function not found: ${functionArn(this.d.account, name, version)}`);
    this.d.log.info({ function: name, version }, 'version deleted');
    this.d.onChange?.(name, version);
  }

  mustGetVersion(name: string, version: string): VersionRecord {
    const v = this.d.metadata.getVersion(name, version);
    if (!v) throw notFound(`Function not found: ${functionArn(this.d.account, name, version)}`);
    return v;
  }

  private missing(name: string): ApiError {
    return notFound(`Function not found: ${functionArn(this.d.account, name)}`);
  }
}

/** Same code and configuration; a description alone does not make a new version. */
function sameSnapshot(v: VersionRecord, latest: FunctionRecord): boolean {
  const strip = (r: FunctionRecord): string => JSON.stringify({ ...r.config, description: '' });
  return v.code.sha256Hex === latest.code.sha256Hex && strip(v) === strip(latest);
}

export function preconditionFailed(): ApiError {
  return new ApiError(
    'PreconditionFailedException',
    'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
  );
}
