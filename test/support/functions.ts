// Function sources used by the execution tests, zipped in memory.
import { rawZip, zipOf } from './zips.js';

/** Reports what the function sees: its environment id survives warm reuse, `count` counts invocations. */
export const nodeProbe = `
const fs = require('node:fs');
const envId = require('node:crypto').randomBytes(8).toString('hex');
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log('probe invoked', JSON.stringify(event));
  if (event.tmp) fs.writeFileSync('/tmp/' + event.tmp, String(count));
  const tmpFiles = fs.readdirSync('/tmp');
  if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  return {
    envId, count, event, tmpFiles,
    remaining: context.getRemainingTimeInMillis(),
    context: {
      functionName: context.functionName, functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
      awsRequestId: context.awsRequestId, logGroupName: context.logGroupName,
      logStreamName: context.logStreamName, clientContext: context.clientContext,
    },
    env: process.env,
    uid: process.getuid(),
  };
};
`;

export const nodeEsmProbe = `
export const handler = async (event) => ({ esm: true, event });
`;

export const nodeThrows = `
exports.handler = async () => { const e = new TypeError('kaboom from handler'); throw e; };
`;

export const nodeExits = `
exports.handler = async () => { process.exit(3); };
`;

export const nodeSleeps = `
exports.handler = async (event) => { await new Promise((r) => setTimeout(r, event.ms ?? 60000)); return 'woke'; };
`;

export const nodeMemoryHog = `
exports.handler = async () => {
  const chunks = [];
  for (let i = 0; i < 2000; i++) chunks.push(Buffer.alloc(1024 * 1024, i));
  return chunks.length;
};
`;

export const pythonProbe = `
import os, uuid
ENV_ID = uuid.uuid4().hex
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    print("python probe", event)
    if event.get("fail"):
        raise ValueError("python failure")
    return {
        "envId": ENV_ID, "count": COUNT, "event": event,
        "functionName": context.function_name, "memory": context.memory_limit_in_mb,
        "requestId": context.aws_request_id, "arn": context.invoked_function_arn,
        "remaining": context.get_remaining_time_in_millis(),
        "handlerEnv": os.environ.get("_HANDLER"),
    }
`;

/**
 * A custom runtime in bash alone: the Runtime API loop over /dev/tcp, echoing each event back.
 * Enough HTTP/1.1 for the Runtime API: Content-Length framed bodies, one request per connection.
 */
export const bashBootstrap = `#!/bin/bash
set -u
api_host=\${AWS_LAMBDA_RUNTIME_API%:*}
api_port=\${AWS_LAMBDA_RUNTIME_API#*:}
echo "bash runtime starting for $_HANDLER"
while true; do
  exec 3<>/dev/tcp/$api_host/$api_port
  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' "$AWS_LAMBDA_RUNTIME_API" >&3
  request_id=""; length=0
  while IFS= read -r line <&3; do
    line=\${line%$'\\r'}
    [ -z "$line" ] && break
    case "\${line,,}" in
      lambda-runtime-aws-request-id:*) request_id=\${line#*: } ;;
      content-length:*) length=\${line#*: } ;;
    esac
  done
  body=$(head -c "$length" <&3)
  exec 3<&-
  echo "handling $request_id"
  response="{\\"echo\\":$body,\\"runtime\\":\\"bash\\"}"
  exec 3<>/dev/tcp/$api_host/$api_port
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: %s\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s' "$request_id" "$AWS_LAMBDA_RUNTIME_API" "\${#response}" "$response" >&3
  cat <&3 >/dev/null
  exec 3<&-
done
`;

export const nodeZip = (source: string, file = 'index.js'): Promise<Buffer> => zipOf({ [file]: source });
export const pythonZip = (source: string): Promise<Buffer> => zipOf({ 'app.py': source });

/** A provided-runtime package whose executable `bootstrap` is the given script. */
export const bootstrapZip = (script: string): Buffer =>
  rawZip([{ name: 'bootstrap', data: Buffer.from(script), mode: 0o100755 }]);
