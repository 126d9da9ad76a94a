// Asynchronous invocation settings: Put/Update/Get/Delete/ListFunctionEventInvokeConfigs with Lambda's
// rules. Kiln stores them; the event queue's pollers read them (MetadataStore.getEventInvokeConfig).
import {
  Violations,
  asyncInvokeLimits,
  checkDestinations,
  checkEventInvokeFields,
  classifyQualifier,
  compareQualifiers,
  eventInvokeConfigNotFound,
  eventInvokeFunctionNotFound,
  invalidParameter,
  parseFunctionName,
  requireSomeSetting,
  resolveQualifier,
  type Account,
  type EventInvokeConfigRecord,
  type EventInvokeSettings,
  type FunctionTarget,
} from '../model/index.js';
import type { Clock, Logger } from '../shared/index.js';
import type { AccountMetadata } from '../store/index.js';
import { eventInvokeConfigView, type EventInvokeConfigView } from './event-invoke-config-view.js';
import { targetExists } from './function-target.js';
import { decodeMarker, encodeMarker } from './paging.js';
import type { EventInvokeConfigBody } from './requests.js';

export interface EventInvokeConfigServiceDeps {
  readonly account: Account;
  readonly metadata: AccountMetadata;
  readonly clock: Clock;
  readonly log: Logger;
}

interface Target {
  readonly name: string;
  /** `$LATEST`, a normalized version number, or an alias name. */
  readonly qualifier: string;
}

export class EventInvokeConfigService {
  constructor(private readonly d: EventInvokeConfigServiceDeps) {}

  /** PutFunctionEventInvokeConfig: replaces the whole configuration; settings left out are removed. */
  put(rawName: string, rawQualifier: string | undefined, body: EventInvokeConfigBody): EventInvokeConfigView {
    const s = settingsOf(body);
    const target = this.existing(this.target(rawName, rawQualifier));
    this.checkDestinations(target.name, s);
    return this.store({ functionName: target.name, qualifier: target.qualifier, ...defined(s) }, 'set');
  }

  /** UpdateFunctionEventInvokeConfig: changes only the settings given, on an existing configuration. */
  update(
    rawName: string,
    rawQualifier: string | undefined,
    body: EventInvokeConfigBody,
  ): EventInvokeConfigView {
    const s = settingsOf(body);
    const target = this.existing(this.target(rawName, rawQualifier));
    const current = this.d.metadata.getEventInvokeConfig(target.name, target.qualifier);
    if (!current) throw eventInvokeConfigNotFound(this.d.account, target.name, target.qualifier);
    this.checkDestinations(target.name, s);
    // A destination side named in the request replaces that side (an empty Destination clears it);
    // a side the request leaves out keeps its destination.
    const dc = body.DestinationConfig;
    const merged: EventInvokeSettings = {
      maximumRetryAttempts: s.maximumRetryAttempts ?? current.maximumRetryAttempts,
      maximumEventAgeInSeconds: s.maximumEventAgeInSeconds ?? current.maximumEventAgeInSeconds,
      onSuccess: dc?.OnSuccess === undefined ? current.onSuccess : s.onSuccess,
      onFailure: dc?.OnFailure === undefined ? current.onFailure : s.onFailure,
    };
    return this.store(
      { functionName: target.name, qualifier: target.qualifier, ...defined(merged) },
      'updated',
    );
  }

  get(rawName: string, rawQualifier: string | undefined): EventInvokeConfigView {
    const { name, qualifier } = this.target(rawName, rawQualifier);
    const rec = this.d.metadata.getEventInvokeConfig(name, qualifier);
    if (!rec) throw eventInvokeConfigNotFound(this.d.account, name, qualifier);
    return eventInvokeConfigView(this.d.account, rec);
  }

  /** Unlike most deletes, Lambda answers 404 when there is no configuration to delete. */
  delete(rawName: string, rawQualifier: string | undefined): void {
    const { name, qualifier } = this.target(rawName, rawQualifier);
    if (!this.d.metadata.deleteEventInvokeConfig(name, qualifier)) {
      throw eventInvokeConfigNotFound(this.d.account, name, qualifier);
    }
    this.d.log.info({ function: name, qualifier }, 'event invoke config removed');
  }

  list(
    rawName: string,
    maxItems: number | undefined,
    marker: string | undefined,
  ): { items: EventInvokeConfigView[]; nextMarker?: string } {
    const ref = parseFunctionName(rawName, this.d.account);
    if (ref.qualifier !== undefined) {
      throw invalidParameter(
        'ListFunctionEventInvokeConfigs lists a whole function: pass its name or ARN without a version or alias.',
      );
    }
    if (!this.d.metadata.get(ref.name)) throw eventInvokeFunctionNotFound(this.d.account, ref.name);
    const n = Math.min(maxItems ?? asyncInvokeLimits.listMaxItems, asyncInvokeLimits.listMaxItems);
    const after = decodeMarker('event-invoke-configs', marker);
    // Markers carry the last qualifier shown, so a configuration removed between pages moves nothing.
    const all = this.d.metadata
      .listEventInvokeConfigs(ref.name)
      .filter((r) => after === undefined || compareQualifiers(r.qualifier, after) > 0);
    const page = all.slice(0, n);
    const items = page.map((r) => eventInvokeConfigView(this.d.account, r));
    const last = page[page.length - 1];
    return all.length > n && last
      ? { items, nextMarker: encodeMarker('event-invoke-configs', last.qualifier) }
      : { items };
  }

  private store(
    rec: Omit<EventInvokeConfigRecord, 'lastModified'>,
    what: 'set' | 'updated',
  ): EventInvokeConfigView {
    const full: EventInvokeConfigRecord = { ...rec, lastModified: this.d.clock.now() };
    // False only when the function, version or alias went away since it was checked.
    if (!this.d.metadata.putEventInvokeConfig(full)) {
      throw eventInvokeFunctionNotFound(this.d.account, rec.functionName, rec.qualifier);
    }
    this.d.log.info({ function: rec.functionName, qualifier: rec.qualifier }, `event invoke config ${what}`);
    return eventInvokeConfigView(this.d.account, full);
  }

  /** The function and qualifier a request names; an unqualified request names `$LATEST`. */
  private target(rawName: string, rawQualifier: string | undefined): Target {
    const ref = resolveQualifier(parseFunctionName(rawName, this.d.account), rawQualifier);
    const q = classifyQualifier(ref.qualifier === '' ? undefined : ref.qualifier);
    const qualifier = q.kind === 'latest' ? '$LATEST' : q.kind === 'version' ? q.version : q.name;
    return { name: ref.name, qualifier };
  }

  /** Put and Update apply only to a function, version or alias that exists. */
  private existing(t: Target): Target {
    if (!this.exists({ functionName: t.name, qualifier: t.qualifier })) {
      throw eventInvokeFunctionNotFound(
        this.d.account,
        t.name,
        t.qualifier === '$LATEST' ? undefined : t.qualifier,
      );
    }
    return t;
  }

  private checkDestinations(name: string, s: EventInvokeSettings): void {
    checkDestinations(s, this.d.account, name, (t) => this.exists(t));
  }

  private exists(t: FunctionTarget): boolean {
    return targetExists(this.d.metadata, t);
  }
}

/**
 * The settings of a request, checked as Lambda checks them before looking anything up: value constraints
 * first, then that at least one setting is there. An empty Destination means "no destination".
 */
function settingsOf(body: EventInvokeConfigBody): EventInvokeSettings {
  const s: EventInvokeSettings = {
    maximumRetryAttempts: body.MaximumRetryAttempts,
    maximumEventAgeInSeconds: body.MaximumEventAgeInSeconds,
    onSuccess: body.DestinationConfig?.OnSuccess?.Destination,
    onFailure: body.DestinationConfig?.OnFailure?.Destination,
  };
  const v = new Violations();
  checkEventInvokeFields(s, v);
  v.throwIfAny();
  requireSomeSetting(
    body.MaximumRetryAttempts !== undefined ||
      body.MaximumEventAgeInSeconds !== undefined ||
      body.DestinationConfig !== undefined,
  );
  return { ...s, onSuccess: s.onSuccess || undefined, onFailure: s.onFailure || undefined };
}

/** Only the settings that are set, so a record never carries `undefined` members. */
function defined(
  s: EventInvokeSettings,
): Omit<EventInvokeConfigRecord, 'functionName' | 'qualifier' | 'lastModified'> {
  return {
    ...(s.maximumRetryAttempts === undefined ? {} : { maximumRetryAttempts: s.maximumRetryAttempts }),
    ...(s.maximumEventAgeInSeconds === undefined
      ? {}
      : { maximumEventAgeInSeconds: s.maximumEventAgeInSeconds }),
    ...(s.onSuccess === undefined ? {} : { onSuccess: s.onSuccess }),
    ...(s.onFailure === undefined ? {} : { onFailure: s.onFailure }),
  };
}
