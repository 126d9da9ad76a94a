// The soak's load, in phases of a given length: invokers (synchronous and Event calls over the stable
// functions, faulty ones included), a churner (create → invoke → update code → update configuration →
// publish → Event calls → delete, over and over) and an updater (new code, configuration and versions for
// the stable functions while they are being invoked). Every call's answer is checked against what it must be.
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  InvokeCommand,
  PublishVersionCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type InvokeCommandOutput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { nodeZip, pythonZip } from '../../test/support/functions.js';
import { sleep } from '../lib/budget.js';
import { role } from '../lib/kiln.js';
import { nodeEcho, pythonEcho, sized, stable, type StableFunction } from './fleet.js';
import type { Tally } from './tally.js';

/** Callers issuing invocations at once, each pausing between calls: bounded, steady load. */
const invokers = 4;
const thinkMs = 100;
/** The stable functions get new code, configuration or a version this often. */
const updateEveryMs = 5000;
/** Any one call: a platform that does not answer in this long is a platform error, not a hang. */
const callTimeoutMs = 30_000;

export interface AcceptedEvent {
  readonly id: string;
  readonly functionName: string;
  /** Seconds since the soak began. */
  readonly acceptedAt: number;
  /** The final conditions that are right for it. */
  readonly expect: readonly string[];
  /** Attempts its outcome must show, when it is certain. */
  readonly attempts?: number;
  /** Whether a destination record must reach a recorder. */
  readonly recorded: boolean;
}

const totalWeight = stable.reduce((s, f) => s + f.weight, 0);

function pick(): StableFunction {
  let r = Math.random() * totalWeight;
  for (const f of stable) {
    r -= f.weight;
    if (r < 0) return f;
  }
  return stable[0] as StableFunction;
}

export class Load {
  readonly accepted: AcceptedEvent[] = [];
  private seq = 0;
  private churned = 0;
  private generation = 1;
  private turn = 0;

  constructor(
    private readonly lambda: LambdaClient,
    private readonly tally: Tally,
    private readonly began: number,
  ) {}

  /** Runs every load generator for `ms`; each finishes the call (or churn cycle) it is in. */
  async phase(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    await Promise.all([
      ...Array.from({ length: invokers }, () => this.invoker(deadline)),
      this.churner(deadline),
      this.updater(deadline),
    ]);
  }

  private timeout(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(callTimeoutMs) };
  }

  private async invoker(deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      const f = pick();
      if (Math.random() < 0.5) await this.invokeSync(f);
      else {
        await this.invokeEvent(f.name, {
          expect: [f.errorType === undefined ? 'Success' : 'RetriesExhausted'],
          attempts: f.errorType === undefined ? 1 : f.maxRetries + 1,
          recorded: true,
        });
      }
      await sleep(thinkMs);
    }
  }

  private async invokeSync(f: StableFunction): Promise<void> {
    const out = await this.tally.call(
      f.errorType === undefined ? 'Invoke' : 'Invoke (function error)',
      f.name,
      () =>
        this.lambda.send(
          new InvokeCommand({ FunctionName: f.name, Payload: this.payload() }),
          this.timeout(),
        ),
    );
    if (out) this.check(f.name, out, f.errorType);
  }

  private payload(): Buffer {
    return Buffer.from(JSON.stringify({ n: ++this.seq }));
  }

  /** Checks a synchronous answer; returns its parsed payload when it was a success. */
  private check(
    what: string,
    out: InvokeCommandOutput,
    errorType: string | undefined,
  ): Record<string, unknown> | undefined {
    const body = Buffer.from(out.Payload ?? []).toString('utf8');
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
    } catch {
      parsed = undefined;
    }
    const got = out.FunctionError === undefined ? 'success' : String(parsed?.errorType);
    if (got !== (errorType ?? 'success') || (errorType !== undefined && out.FunctionError !== 'Unhandled')) {
      this.tally.wrong(`Invoke ${what}: wanted ${errorType ?? 'success'}, got ${got}: ${body.slice(0, 300)}`);
      return undefined;
    }
    this.tally.count(`Invoke ${what.replace(/^churn-\d+/, 'churn-*').replace(/:\d+$/, ':N')}: ${got}`);
    return errorType === undefined ? parsed : undefined;
  }

  private async invokeEvent(
    functionName: string,
    expected: Omit<AcceptedEvent, 'id' | 'functionName' | 'acceptedAt'>,
  ): Promise<void> {
    const out = await this.tally.call('Invoke Event', functionName, () =>
      this.lambda.send(
        new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: this.payload() }),
        this.timeout(),
      ),
    );
    if (!out) return;
    const id = out.$metadata.requestId;
    if (out.StatusCode !== 202 || id === undefined) {
      this.tally.wrong(`Invoke Event ${functionName}: ${out.StatusCode} without a request id`);
      return;
    }
    this.accepted.push({ id, functionName, acceptedAt: (Date.now() - this.began) / 1000, ...expected });
  }

  private async churner(deadline: number): Promise<void> {
    while (Date.now() < deadline) await this.churn();
  }

  /** One function's whole life; every answer must show the code and configuration just set. */
  private async churn(): Promise<void> {
    const k = ++this.churned;
    const name = `churn-${k}`;
    const py = k % 2 === 0;
    const zip = (gen: number): Promise<Buffer> => (py ? pythonZip(pythonEcho(gen)) : nodeZip(nodeEcho(gen)));
    const created = await this.tally.call('CreateFunction', name, async () =>
      this.lambda.send(
        new CreateFunctionCommand({
          FunctionName: name,
          Role: role,
          Runtime: py ? 'python3.11' : 'nodejs20.x',
          Handler: py ? 'app.handler' : 'index.handler',
          ...sized,
          Code: { ZipFile: await zip(1) },
        }),
        this.timeout(),
      ),
    );
    if (created === undefined) return;
    try {
      await this.expectState(name, undefined, 1, null);
      await this.tally.call('UpdateFunctionCode', name, async () =>
        this.lambda.send(
          new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: await zip(2) }),
          this.timeout(),
        ),
      );
      await this.expectState(name, undefined, 2, null);
      await this.tally.call('UpdateFunctionConfiguration', name, () =>
        this.lambda.send(
          new UpdateFunctionConfigurationCommand({
            FunctionName: name,
            MemorySize: 192,
            Environment: { Variables: { GEN_ENV: `e${k}` } },
          }),
          this.timeout(),
        ),
      );
      await this.expectState(name, undefined, 2, `e${k}`);
      const version = await this.tally.call('PublishVersion', name, () =>
        this.lambda.send(new PublishVersionCommand({ FunctionName: name }), this.timeout()),
      );
      if (version?.Version !== undefined) await this.expectState(name, version.Version, 2, `e${k}`);
      // Some run before the delete below (at once for every other function) and some may come after it,
      // which drops them as FunctionNotFound.
      for (let i = 0; i < 3; i++) {
        await this.invokeEvent(name, { expect: ['Success', 'FunctionNotFound'], recorded: false });
      }
      if (k % 4 < 2) await sleep(Math.random() * 1500);
    } finally {
      await this.tally.call('DeleteFunction', name, () =>
        this.lambda.send(new DeleteFunctionCommand({ FunctionName: name }), this.timeout()),
      );
    }
  }

  private async expectState(
    name: string,
    qualifier: string | undefined,
    gen: number,
    env: string | null,
  ): Promise<void> {
    const what = `${name}${qualifier === undefined ? '' : `:${qualifier}`}`;
    const out = await this.tally.call('Invoke', what, () =>
      this.lambda.send(
        new InvokeCommand({ FunctionName: name, Qualifier: qualifier, Payload: this.payload() }),
        this.timeout(),
      ),
    );
    const answer = out && this.check(what, out, undefined);
    if (answer && (answer.gen !== gen || answer.env !== env)) {
      this.tally.wrong(`Invoke ${what}: wanted gen ${gen} env ${env}, got ${JSON.stringify(answer)}`);
    }
  }

  private async updater(deadline: number): Promise<void> {
    for (;;) {
      await sleep(Math.min(updateEveryMs, Math.max(0, deadline - Date.now())));
      if (Date.now() >= deadline) return;
      const turn = this.turn++;
      if (turn % 3 === 0) {
        const zip = await nodeZip(nodeEcho(++this.generation));
        await this.tally.call('UpdateFunctionCode', 'node-ok', () =>
          this.lambda.send(
            new UpdateFunctionCodeCommand({ FunctionName: 'node-ok', ZipFile: zip }),
            this.timeout(),
          ),
        );
      } else if (turn % 3 === 1) {
        await this.tally.call('UpdateFunctionConfiguration', 'python-ok', () =>
          this.lambda.send(
            new UpdateFunctionConfigurationCommand({
              FunctionName: 'python-ok',
              Environment: { Variables: { GEN_ENV: `t${turn}` } },
            }),
            this.timeout(),
          ),
        );
      } else {
        const v = await this.tally.call('PublishVersion', 'node-ok', () =>
          this.lambda.send(new PublishVersionCommand({ FunctionName: 'node-ok' }), this.timeout()),
        );
        if (v?.Version !== undefined) {
          const what = `node-ok:${v.Version}`;
          const out = await this.tally.call('Invoke', what, () =>
            this.lambda.send(
              new InvokeCommand({ FunctionName: 'node-ok', Qualifier: v.Version, Payload: this.payload() }),
              this.timeout(),
            ),
          );
          if (out) this.check(what, out, undefined);
        }
      }
    }
  }
}
