export { CodeUrlSigner } from './code-url.js';
export { FunctionService } from './function-service.js';
export type { FunctionServiceDeps } from './function-service.js';
export { registerControlPlane } from './routes.js';
export type { ControlPlaneDeps } from './routes.js';
export { registerConcurrency } from './concurrency-routes.js';
export type { ConcurrencyRoutesDeps } from './concurrency-routes.js';
