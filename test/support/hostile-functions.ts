// Functions that misbehave on purpose, for the containment tests.

/** Tries everything a function must not be able to do, and reports what happened. */
export const nodeEscapeArtist = `
const fs = require('node:fs');
const net = require('node:net');
const attempt = (f) => { try { return { ok: true, value: f() }; } catch (e) { return { ok: false, code: e.code }; } };
const connect = (port) => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port });
  s.setTimeout(2000, () => { s.destroy(); resolve('timeout'); });
  s.on('connect', () => { s.destroy(); resolve('connected'); });
  s.on('error', (e) => resolve(e.code));
});
exports.handler = async (event) => ({
  writeTask: attempt(() => fs.writeFileSync('/var/task/evil.js', 'x')),
  readShadow: attempt(() => fs.readFileSync('/etc/shadow', 'utf8').length),
  readPasswd: attempt(() => fs.readFileSync('/etc/passwd', 'utf8').length),
  listRoot: attempt(() => fs.readdirSync('/').sort()),
  readDataDir: attempt(() => fs.readdirSync(event.dataDir)),
  readHostProc: attempt(() => fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).length),
  kilnEndpoint: await connect(event.kilnPort),
  runtimeRelay: await connect(9001),
});
`;

export const nodeSpinner = `
exports.handler = async () => { for (;;) {} };
`;

export const nodeForkBomb = `
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
exports.handler = async () => {
  // No pipes to the children, so the call returns when the loop ends rather than when the sleeps do.
  const r = spawnSync('/bin/sh', ['-c', 'i=0; while [ $i -lt 1500 ]; do sleep 20 & i=$((i+1)); done 2>/dev/null; exit 0'], { timeout: 45000, stdio: 'ignore' });
  const processes = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).length;
  return { processes, status: r.status };
};
`;

export const nodeTmpFiller = `
const fs = require('node:fs');
exports.handler = async () => {
  const chunk = Buffer.alloc(1024 * 1024, 1);
  const fd = fs.openSync('/tmp/fill', 'w');
  let written = 0;
  try { for (;;) { fs.writeSync(fd, chunk); written += chunk.length; } }
  catch (e) { return { code: e.code, writtenMb: Math.round(written / 1048576) }; }
  finally { fs.closeSync(fd); }
};
`;

export const nodeLogFlood = `
exports.handler = async (event) => {
  const line = 'x'.repeat(1023) + '\\n';
  for (let i = 0; i < event.mb * 1024; i++) process.stdout.write(line);
  console.log('flood done');
  return 'flooded';
};
`;

/**
 * A custom runtime that abuses the Runtime API from inside the sandbox, then answers properly,
 * reporting the status codes it got.
 */
export const nodeRuntimeAbuser = `#!/usr/bin/node
const http = require('node:http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const call = (method, path, body) => new Promise((resolve, reject) => {
  const req = http.request({ host, port, method, path: '/2018-06-01' + path }, (res) => {
    const chunks = []; res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
  });
  req.on('error', reject); req.end(body);
});
(async () => {
  let previous = null;
  for (;;) {
    const next = await call('GET', '/runtime/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const seen = {};
    seen.wrongId = (await call('POST', '/runtime/invocation/00000000-0000-0000-0000-000000000000/response', '{}')).status;
    seen.garbagePath = (await call('POST', '/runtime/garbage', 'zzz')).status;
    // Each answer reports what the previous invocation saw, including its refused second answer.
    seen.first = (await call('POST', '/runtime/invocation/' + id + '/response', JSON.stringify({ seen: previous }))).status;
    seen.second = (await call('POST', '/runtime/invocation/' + id + '/response', '"again"')).status;
    previous = seen;
  }
})();
`;

export const neverReady = `#!/bin/sh
echo "this runtime never asks for work"
exec sleep 600
`;

export const garbageResponder = `#!/usr/bin/node
const http = require('node:http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
http.get({ host, port, path: '/2018-06-01/runtime/invocation/next' }, (res) => {
  const id = res.headers['lambda-runtime-aws-request-id'];
  res.resume();
  const req = http.request({ host, port, method: 'POST', path: '/2018-06-01/runtime/invocation/' + id + '/error', headers: { 'content-type': 'text/plain' } });
  req.end(Buffer.from([0xff, 0xfe, 0x00, 0x41]));
});
setInterval(() => {}, 1000);
`;
