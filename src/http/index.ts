export { createHttpServer, sendApiError } from './server.js';
export type { HttpServerOptions } from './server.js';
export { verifySigV4, type SigV4Expectation, type SigV4Result, type SignedRequest } from './sigv4.js';
export { registerJsonServices, sendJsonError } from './aws-json.js';
export type { JsonOperation, JsonService } from './aws-json.js';
export { callerOf, type Authenticate, type Caller, type RouteAccess } from './caller.js';
