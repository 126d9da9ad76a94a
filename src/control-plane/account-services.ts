// Everything a management request may read or change belongs to its caller's account: routes ask for
// that account's services, which reach no other account's metadata.
import type { FastifyRequest } from 'fastify';
import { callerOf } from '../http/index.js';
import type { Account } from '../model/index.js';
import type { AccountMetadata } from '../store/index.js';
import type { EventInvokeConfigService } from './event-invoke-config-service.js';
import type { FunctionService } from './function-service.js';
import type { ProvisionedService } from './provisioned-service.js';

/** The control plane of one account. */
export interface AccountServices {
  readonly account: Account;
  readonly metadata: AccountMetadata;
  readonly functions: FunctionService;
  readonly provisioned: ProvisionedService;
  readonly eventInvokeConfigs: EventInvokeConfigService;
}

/** The services of an account, made once per account by the composition root. */
export type ServicesOf = (accountId: string) => AccountServices;

/** The services of the account that sent `req`. */
export const servicesFor = (servicesOf: ServicesOf, req: FastifyRequest): AccountServices =>
  servicesOf(callerOf(req).accountId);
