export { InvokeService, toSpec } from './invoke-service.js';
export type { InvocationObserver, InvokeServiceDeps } from './invoke-service.js';
export { registerInvoke, maxSyncPayload } from './routes.js';
