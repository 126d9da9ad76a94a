export {
  DEFAULT_MAX_RESPONSE_BYTES,
  RuntimeApiError,
  RuntimeApiServer,
  type RuntimeApiErrorReason,
  type RuntimeApiServerOptions,
} from './runtime-api-server.js';
export type * from './types.js';
