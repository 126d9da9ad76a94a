export {
  KilnClient,
  errorCode,
  isConnectionError,
  describeError,
  type KilnClientOptions,
  type FunctionSettings,
  type CreateFunctionInput,
  type FunctionPatch,
  type ErrorInfo,
  type FunctionConfiguration,
  type GetFunctionResponse,
} from './kiln-client.js';
export { zipDirectory } from './zip-directory.js';
export { KilnApi, type AccountView, type AsyncQueueView, type AsyncEventView } from './kiln-api.js';
export {
  KilnLogs,
  logGroupOf,
  type FollowOptions,
  type LogLine,
  type ReadLogsOptions,
} from './logs-client.js';
export {
  signedFetch,
  signedHeaders,
  type Credentials,
  type RequestToSign,
  type SignedFetchInit,
} from './sigv4-signer.js';
