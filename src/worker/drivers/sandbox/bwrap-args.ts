// Builds the command that starts one sandbox. The chain is:
//   sh (root, empty env) joins the cgroups → [exec nsenter into the code-mount namespace, zygotes only] → exec setpriv (drops to the pool uid, no caps, no_new_privs)
//   → exec bwrap (namespaces, mounts, env from the spec only) → bash (inside) starts the 127.0.0.1:9001
//   relay, signals readiness → exec spec.argv.
// Everything here is pure so the exact command line can be unit-tested and reported.
import type { SandboxSpec } from '../../driver.js';

/** Lambda runs functions as sbx_user1051 (993:990); any fixed non-zero id inside works the same. */
export const sandboxUid = 993;
export const sandboxGid = 990;
export const sandboxUser = 'sbx_user1051';
export const runtimeApiPort = 9001;
export const socketInside = '/run/kiln/runtime.sock';

/** Descriptor layout of the launcher: bwrap reads its options from ARGS_FD; READY_FD carries the sandbox's "started" signal. */
export const argsFd = 3;
export const readyFd = 4;
export const firstFileFd = 5;

export interface HostTools {
  readonly sh: string;
  readonly setpriv: string;
  /** Puts a zygote's launcher into the namespace where its code will be mounted later (see code-mounts.ts). */
  readonly nsenter: string;
  readonly bwrap: string;
  /** Runs inside the sandbox (from the read-only /usr), so it must live under /usr. */
  readonly bash: string;
  readonly socat: string;
  /** Also inside: execs the runtime without the variables the shell adds. */
  readonly env: string;
}

export const defaultTools: HostTools = {
  sh: '/bin/sh',
  setpriv: '/usr/bin/setpriv',
  nsenter: '/usr/bin/nsenter',
  bwrap: '/usr/bin/bwrap',
  bash: '/usr/bin/bash',
  socat: '/usr/bin/socat',
  env: '/usr/bin/env',
};

/** Variables a shell sets on its own; the runtime must see them only if the spec has them. */
const shellVariables = ['PWD', 'OLDPWD', 'SHLVL'] as const;

/** How a top-level directory such as /bin or /lib64 looks on the host (merged-/usr or not). */
export type RootEntry =
  | { readonly name: string; readonly kind: 'symlink'; readonly target: string }
  | { readonly name: string; readonly kind: 'dir' };

export interface LaunchInput {
  /** codeDir resolved: the function's code, or a pre-initialised sandbox's empty slot. */
  readonly spec: SandboxSpec & { readonly codeDir: string };
  /** Host uid and gid the sandbox runs as. */
  readonly uid: number;
  readonly gid: number;
  /** cgroup.procs files the launcher joins before anything else runs. */
  readonly procsFiles: readonly string[];
  readonly tools: HostTools;
  readonly rootEntries: readonly RootEntry[];
  readonly hostname: string;
  /** A pre-initialised sandbox's mount namespace (/proc/<pid>/ns/mnt), joined before privileges are dropped. */
  readonly mountNamespace?: string;
}

export interface LaunchFile {
  readonly fd: number;
  readonly path: string;
  readonly content: string;
}

export interface LaunchPlan {
  /** What the driver spawns, as root, with an empty environment. */
  readonly file: string;
  readonly args: readonly string[];
  /** bwrap's options, sent NUL-separated through ARGS_FD so that env values never appear in `ps`. */
  readonly bwrapOptions: readonly string[];
  /** Files bwrap copies into the sandbox's /etc, each read from its own descriptor. */
  readonly files: readonly LaunchFile[];
}

/** Lambda's file descriptor limit; soft and hard, so the function cannot raise it. */
export const maxOpenFiles = 1024;

// Lowers the descriptor limit (it would otherwise inherit Kiln's), joins every cgroup with its own pid, then
// execs: the sandbox is confined before setpriv or bwrap run.
const launcherScript =
  `ulimit -n ${maxOpenFiles} || { echo "kiln: cannot limit open files" >&2; exit 125; }; ` +
  'for f; do shift; [ "$f" = -- ] && break; echo $$ >"$f" || { echo "kiln: cannot join cgroup $f" >&2; exit 125; }; done; exec "$@"';

/**
 * Runs inside the sandbox as the sandbox user. Closes every descriptor the host may have leaked (bwrap passes
 * unknown ones through), starts the relay, waits for it to listen by reading /proc/net/tcp with builtins only
 * (0100007F:2329 is 127.0.0.1:9001, 0A is LISTEN; `read -t` on the silent READY_FD is a sleep without a fork),
 * then says "R" on READY_FD (the host's sign that the sandbox is up) and execs the runtime without waiting for an
 * answer: nothing the host does after the start has to come before the runtime's first instruction.
 * bwrap sets PWD after --chdir and bash adds SHLVL to what it execs: the last lines drop the ones the spec does not
 * set and put back the spec's PWD and OLDPWD (paths, so spelling them out in the script reveals nothing).
 */
export function innerScript(
  tools: HostTools,
  env: Readonly<Record<string, string>> = {},
  waitForRelay = true,
): string {
  const drop = shellVariables.filter((v) => env[v] === undefined);
  // SHLVL needs no help: bash increments it on start and decrements it on exec.
  const restore = (['PWD', 'OLDPWD'] as const).flatMap((v) =>
    env[v] === undefined ? [] : [`export ${v}=${shellQuote(env[v])}`],
  );
  const exec =
    drop.length === 0 ? 'exec "$@"' : `exec ${tools.env} ${drop.map((v) => `-u ${v}`).join(' ')} -- "$@"`;
  const listen = `0100007F:${runtimeApiPort.toString(16).toUpperCase().padStart(4, '0')}`;
  const fail = (why: string): string => `{ echo "kiln: ${why}" >&2; exit 125; }`;
  return [
    `for f in /proc/self/fd/*; do n=\${f##*/}; case $n in 0|1|2|${readyFd}) ;; *) eval "exec $n>&-" ;; esac; done`,
    `${tools.socat} TCP-LISTEN:${runtimeApiPort},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${socketInside} ${readyFd}>&- </dev/null &`,
    // Runtimes that speak to the socket directly start without waiting for the relay (~10 ms of cold start);
    // it still comes up for user code that reads AWS_LAMBDA_RUNTIME_API.
    ...(waitForRelay
      ? [
          'relay=$!',
          `listening() { local _ a s; while read -r _ a _ s _; do [ "$a" = ${listen} ] && [ "$s" = 0A ] && return 0; done </proc/net/tcp; return 1; }`,
          'i=0',
          'until listening; do',
          `  kill -0 "$relay" 2>/dev/null || ${fail(`the Runtime API relay (socat) exited before listening on 127.0.0.1:${runtimeApiPort}`)}`,
          `  i=$((i+1)); [ "$i" -lt 2000 ] || ${fail(`the Runtime API relay did not listen on 127.0.0.1:${runtimeApiPort} in time`)}`,
          `  read -r -t 0.001 -u ${readyFd} _`,
          'done',
        ]
      : []),
    `printf R >&${readyFd}`,
    `exec ${readyFd}>&-`,
    ...restore,
    exec,
  ].join('\n');
}

export function etcFiles(hostname: string): { path: string; content: string }[] {
  return [
    {
      path: '/etc/passwd',
      content:
        `${sandboxUser}:x:${sandboxUid}:${sandboxGid}::/home/${sandboxUser}:/sbin/nologin\n` +
        'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
    },
    { path: '/etc/group', content: `${sandboxUser}:x:${sandboxGid}:\nnogroup:x:65534:\n` },
    {
      path: '/etc/hosts',
      content: `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    },
    { path: '/etc/nsswitch.conf', content: 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' },
  ];
}

export function planLaunch(input: LaunchInput): LaunchPlan {
  const { spec, tools } = input;
  assertNoNul('argv', spec.argv);
  const files = etcFiles(input.hostname).map((f, i) => ({ ...f, fd: firstFileFd + i }));
  const options = [
    ...[
      '--unshare-user',
      '--unshare-pid',
      '--unshare-net',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
    ],
    // No nested user namespaces: they are the usual way into kernel attack surface from an unprivileged sandbox.
    '--disable-userns',
    '--die-with-parent',
    // A new session stops the sandbox from pushing input into a terminal it inherited (TIOCSTI).
    '--new-session',
    ...['--uid', String(sandboxUid), '--gid', String(sandboxGid), '--hostname', input.hostname],
    ...['--ro-bind', '/usr', '/usr'],
    ...input.rootEntries.flatMap((e) =>
      e.kind === 'symlink'
        ? ['--symlink', e.target, `/${e.name}`]
        : ['--ro-bind', `/${e.name}`, `/${e.name}`],
    ),
    ...['--proc', '/proc', '--dev', '/dev'],
    // A generated /etc: the host's stays out except the loader cache (faster starts) and the alternatives links
    // some /usr/bin commands point through.
    ...['--dir', '/etc'],
    ...files.flatMap((f) => ['--perms', '0444', '--file', String(f.fd), f.path]),
    ...['--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache'],
    ...['--ro-bind-try', '/etc/alternatives', '/etc/alternatives'],
    ...['--ro-bind', spec.codeDir, '/var/task'],
    ...['--ro-bind', spec.runtimeDir, '/var/runtime'],
    ...['--bind', spec.runtimeApiSocket, socketInside],
    ...['--size', String(spec.ephemeralStorageMb * 1024 * 1024), '--tmpfs', '/tmp'],
    // The root and /dev are tmpfs that bwrap creates owned by the sandbox user; read-only they cannot grow.
    ...['--remount-ro', '/dev', '--remount-ro', '/'],
    ...['--chdir', '/var/task'],
    '--clearenv',
    ...envOptions(spec.env),
  ];
  const args = [
    '-c',
    launcherScript,
    'kiln-launch',
    ...input.procsFiles,
    '--',
    ...(input.mountNamespace !== undefined ? [tools.nsenter, `--mount=${input.mountNamespace}`, '--'] : []),
    tools.setpriv,
    ...['--reuid', String(input.uid), '--regid', String(input.gid), '--clear-groups'],
    ...['--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'],
    tools.bwrap,
    ...['--args', String(argsFd), '--'],
    tools.bash,
    '-c',
    innerScript(tools, spec.env, spec.waitForRelay ?? true),
    'kiln',
    ...spec.argv,
  ];
  return { file: tools.sh, args, bwrapOptions: options, files };
}

function envOptions(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).flatMap(([k, v]) => {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw new Error(
        `invalid environment variable ${JSON.stringify(k)}: names must be non-empty without '=' or NUL`,
      );
    }
    return ['--setenv', k, v];
  });
}

function assertNoNul(what: string, values: readonly string[]): void {
  if (values.length === 0) throw new Error(`${what} is empty`);
  for (const v of values) if (v.includes('\0')) throw new Error(`${what} contains a NUL byte`);
}

const shellQuote = (v: string): string => `'${v.replaceAll("'", `'\\''`)}'`;

/** The NUL-separated form bwrap's --args expects. */
export function encodeArgs(options: readonly string[]): Buffer {
  return Buffer.from(options.map((o) => `${o}\0`).join(''));
}
