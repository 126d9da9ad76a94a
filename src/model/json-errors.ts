// Errors of services on the AWS JSON 1.0/1.1 protocols (CloudWatch Logs today, SQS later). Their wire
// shape differs from Lambda's REST errors: `{"__type": code, "message": text}`, and each service has its
// own code names, so they are not part of Lambda's error table.

export class JsonServiceError extends Error {
  constructor(
    /** The `__type` clients match on, e.g. `InvalidParameterException`. */
    readonly code: string,
    message: string,
    /** CloudWatch Logs answers every caller fault with 400 and platform faults with 500. */
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}
