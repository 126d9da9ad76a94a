// Aliases: Create/Get/Update/Delete/ListAliases with Lambda's rules for names, targets and weights.
import type { ApiError } from '../model/index.js';
import {
  Violations,
  canonicalVersion,
  aliasNotFound,
  checkAliasName,
  checkDescription,
  checkFunctionVersionField,
  checkRouting,
  functionArn,
  invalidParameter,
  limits,
  notFound,
  parseFunctionName,
  type AliasRecord,
} from '../model/index.js';
import { newId } from '../shared/index.js';
import type { FunctionServiceDeps } from './service-deps.js';
import { decodeMarker, encodeMarker } from './paging.js';
import type { CreateAliasBody, UpdateAliasBody } from './requests.js';
import { preconditionFailed } from './version-service.js';

export class AliasService {
  constructor(private readonly d: FunctionServiceDeps) {}

  create(rawName: string, body: CreateAliasBody): AliasRecord {
    const v = new Violations();
    checkAliasName(body.Name, v);
    checkFunctionVersionField(body.FunctionVersion, v, true);
    checkDescription(body.Description, v);
    v.throwIfAny();
    const name = this.functionName(rawName);
    const alias = this.checked({
      functionName: name,
      name: body.Name ?? '',
      functionVersion: normalizeVersion(body.FunctionVersion ?? ''),
      description: body.Description ?? '',
      weights: body.RoutingConfig?.AdditionalVersionWeights ?? {},
      revisionId: newId(),
    });
    if (!this.d.metadata.createAlias(alias)) throw this.missing(name);
    this.d.log.info({ function: name, alias: alias.name }, 'alias created');
    return alias;
  }

  get(rawName: string, aliasName: string): AliasRecord {
    const name = this.functionName(rawName);
    this.checkName(aliasName);
    return this.mustGet(name, aliasName);
  }

  update(rawName: string, aliasName: string, body: UpdateAliasBody): AliasRecord {
    const v = new Violations();
    checkAliasName(aliasName, v);
    checkFunctionVersionField(body.FunctionVersion, v, false);
    checkDescription(body.Description, v);
    v.throwIfAny();
    const name = this.functionName(rawName);
    const current = this.mustGet(name, aliasName);
    if (body.RevisionId !== undefined && body.RevisionId !== current.revisionId) throw preconditionFailed();
    const next = this.checked({
      ...current,
      functionVersion:
        body.FunctionVersion === undefined ? current.functionVersion : normalizeVersion(body.FunctionVersion),
      description: body.Description ?? current.description,
      weights:
        body.RoutingConfig === undefined
          ? current.weights
          : (body.RoutingConfig.AdditionalVersionWeights ?? {}),
      revisionId: newId(),
    });
    if (!this.d.metadata.replaceAlias(next, current.revisionId)) {
      if (!this.d.metadata.getAlias(name, aliasName)) throw aliasNotFound(this.d.account, name, aliasName);
      throw preconditionFailed();
    }
    this.d.log.info({ function: name, alias: aliasName }, 'alias updated');
    this.d.onAliasChange?.(name, aliasName);
    return next;
  }

  delete(rawName: string, aliasName: string): void {
    const name = this.functionName(rawName);
    this.checkName(aliasName);
    // Lambda answers 204 for an alias that does not exist, as long as the function does.
    if (this.d.metadata.deleteAlias(name, aliasName)) this.d.onAliasChange?.(name, aliasName);
  }

  list(
    rawName: string,
    functionVersion: string | undefined,
    maxItems: number | undefined,
    marker: string | undefined,
  ): { items: AliasRecord[]; nextMarker?: string } {
    if (functionVersion !== undefined) {
      const v = new Violations();
      checkFunctionVersionField(functionVersion, v, false);
      v.throwIfAny();
    }
    const name = this.functionName(rawName);
    const n = Math.min(maxItems ?? limits.listMaxItems, limits.listMaxItems);
    const after = decodeMarker('aliases', marker) ?? '';
    const version = functionVersion === undefined ? undefined : normalizeVersion(functionVersion);
    const rows = this.d.metadata.listAliases(name, after, n + 1, version);
    const items = rows.slice(0, n);
    const last = items[items.length - 1];
    return rows.length > n && last ? { items, nextMarker: encodeMarker('aliases', last.name) } : { items };
  }

  /** The target and the additional version must exist; the routing rules are Lambda's. */
  private checked(a: AliasRecord): AliasRecord {
    const { functionName: name, functionVersion: primary } = a;
    if (primary !== '$LATEST' && !this.d.metadata.getVersion(name, primary)) {
      throw notFound(`Function not found: ${functionArn(this.d.account, name, primary)}`);
    }
    checkRouting(this.d.account, name, primary, a.weights, (v) => !!this.d.metadata.getVersion(name, v));
    // Stored with normalized keys, so "02" and "2" name the same version.
    const entries = Object.entries(a.weights).map(([k, w]) => [canonicalVersion(k), w] as const);
    return { ...a, weights: Object.fromEntries(entries) };
  }

  private checkName(aliasName: string): void {
    const v = new Violations();
    checkAliasName(aliasName, v);
    v.throwIfAny();
  }

  private functionName(rawName: string): string {
    const ref = parseFunctionName(rawName, this.d.account);
    if (ref.qualifier !== undefined) {
      throw invalidParameter(
        'Aliases belong to the unqualified function: pass the function name or ARN without a version or alias.',
      );
    }
    if (!this.d.metadata.get(ref.name)) throw this.missing(ref.name);
    return ref.name;
  }

  private mustGet(name: string, aliasName: string): AliasRecord {
    const alias = this.d.metadata.getAlias(name, aliasName);
    if (!alias) throw aliasNotFound(this.d.account, name, aliasName);
    return alias;
  }

  private missing(name: string): ApiError {
    return notFound(`Function not found: ${functionArn(this.d.account, name)}`);
  }
}

const normalizeVersion = (v: string): string => (v === '$LATEST' ? v : canonicalVersion(v));
