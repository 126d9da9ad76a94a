// The one table of API error codes, named and numbered as AWS Lambda names them.
// `Type` in the JSON body is "User" for caller faults and "Service" for platform faults, as Lambda sends.

export const errorTable = {
  ResourceNotFoundException: { status: 404, fault: 'User' },
  ResourceConflictException: { status: 409, fault: 'User' },
  ProvisionedConcurrencyConfigNotFoundException: { status: 404, fault: 'User' },
  ResourceInUseException: { status: 400, fault: 'User' },
  InvalidParameterValueException: { status: 400, fault: 'User' },
  ValidationException: { status: 400, fault: 'User' },
  InvalidRequestContentException: { status: 400, fault: 'User' },
  RequestTooLargeException: { status: 413, fault: 'User' },
  RequestEntityTooLargeException: { status: 413, fault: 'User' },
  CodeStorageExceededException: { status: 400, fault: 'User' },
  PreconditionFailedException: { status: 412, fault: 'User' },
  TooManyRequestsException: { status: 429, fault: 'User' },
  UnsupportedMediaTypeException: { status: 415, fault: 'User' },
  UnknownOperationException: { status: 404, fault: 'User' },
  // Authentication: every one of these is 403 in Lambda, whatever the general AWS table says.
  MissingAuthenticationTokenException: { status: 403, fault: 'User' },
  IncompleteSignatureException: { status: 403, fault: 'User' },
  UnrecognizedClientException: { status: 403, fault: 'User' },
  InvalidSignatureException: { status: 403, fault: 'User' },
  AccessDeniedException: { status: 403, fault: 'User' },
  NotImplementedException: { status: 501, fault: 'Service' },
  ServiceException: { status: 500, fault: 'Service' },
} as const satisfies Record<string, { status: number; fault: 'User' | 'Service' }>;

export type ErrorCode = keyof typeof errorTable;

/** An error that reaches the caller as `x-amzn-ErrorType: <code>` with `{"Type","Message"}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly fault: 'User' | 'Service';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra members of the JSON body, e.g. `Reason` on TooManyRequestsException. */
    readonly extra: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = code;
    this.status = errorTable[code].status;
    this.fault = errorTable[code].fault;
  }
}

export const notFound = (what: string): ApiError => new ApiError('ResourceNotFoundException', what);
export const invalidParameter = (message: string): ApiError =>
  new ApiError('InvalidParameterValueException', message);

/** Lambda's wording for one failed field constraint (the shape its validation layer uses). */
export function validationError(field: string, value: unknown, constraint: string): ApiError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return new ApiError(
    'ValidationException',
    `1 validation error detected: Value '${shown}' at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}

/** A required integer member with a lower bound, checked with Lambda's validation wording. */
export function requireAtLeast(field: string, value: number | undefined, min: number): number {
  if (value === undefined) throw validationError(field, undefined, 'Member must not be null');
  if (value < min)
    throw validationError(field, value, `Member must have value greater than or equal to ${min}`);
  return value;
}
