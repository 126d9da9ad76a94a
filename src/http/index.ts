export { createHttpServer, sendApiError } from './server.js';
export type { HttpServerOptions } from './server.js';
