// Lambda REST operations Kiln does not serve yet, so an unimplemented call is named, not a bare 404.
// Patterns use `{}` for one path segment.

const table: ReadonlyArray<readonly [method: string, path: string, operation: string]> = [
  ['POST', '/2021-11-15/functions/{}/response-streaming-invocations', 'InvokeWithResponseStream'],
  ['POST', '/2015-03-31/functions/{}/policy', 'AddPermission'],
  ['GET', '/2015-03-31/functions/{}/policy', 'GetPolicy'],
  ['DELETE', '/2015-03-31/functions/{}/policy/{}', 'RemovePermission'],
  ['POST', '/2015-03-31/event-source-mappings', 'CreateEventSourceMapping'],
  ['GET', '/2015-03-31/event-source-mappings', 'ListEventSourceMappings'],
  ['POST', '/2018-10-31/layers/{}/versions', 'PublishLayerVersion'],
  ['GET', '/2018-10-31/layers', 'ListLayers'],
  ['GET', '/2017-03-31/tags/{}', 'ListTags'],
  ['POST', '/2017-03-31/tags/{}', 'TagResource'],
  ['DELETE', '/2017-03-31/tags/{}', 'UntagResource'],
  ['POST', '/2021-10-31/functions/{}/url', 'CreateFunctionUrlConfig'],
  ['GET', '/2021-10-31/functions/{}/url', 'GetFunctionUrlConfig'],
  ['PUT', '/2020-06-30/functions/{}/code-signing-config', 'PutFunctionCodeSigningConfig'],
  ['PUT', '/2021-07-20/functions/{}/recursion-config', 'PutFunctionRecursionConfig'],
  ['PUT', '/2021-07-20/functions/{}/runtime-management-config', 'PutRuntimeManagementConfig'],
];

const compiled = table.map(([method, path, op]) => ({
  method,
  op,
  re: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\}/g, '[^/]+')}/?$`),
}));

/** The Lambda operation a request names, if it is one Kiln knows of but does not implement. */
export function unimplementedOperation(method: string, path: string): string | undefined {
  return compiled.find((c) => c.method === method && c.re.test(path))?.op;
}
