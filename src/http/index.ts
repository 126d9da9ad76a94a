export { createHttpServer, sendApiError } from './server.js';
export type { HttpServerOptions } from './server.js';
export { registerJsonServices, sendJsonError } from './aws-json.js';
export type { JsonOperation, JsonService } from './aws-json.js';
