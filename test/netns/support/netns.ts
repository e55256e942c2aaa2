/**
 * Hosts for the netns suite: Linux network namespaces this suite makes itself (root,
 * iproute2), one per host, each with an `eth0` on a private subnet (10.231.0.0/24 by
 * default), all plugged into a bridge that lives in a namespace of its own (the
 * "switch"), so nothing is added to the machine's own network and deleting the
 * namespaces removes every link. Names are unique per run (`wcnet-<pid>-<random>-<host>`);
 * namespaces left by a run that died (its pid gone) are swept, their processes killed
 * by pid, before a new topology is made.
 *
 * Where `ip netns add` is not permitted, the global setup says so in one line and the
 * suite is skipped, except with CI=true, where it fails (the house rule of
 * src/test-util/interop.ts).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect, inject } from 'vitest';

export const inCI = process.env.CI === 'true';
const PREFIX = 'wcnet-';

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

function tryIp(args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** Why this machine cannot run the suite (undefined: it can). Probes `ip netns add` once and the binaries the hosts run. */
export function netnsUnavailable(): string | undefined {
  const probe = `${PREFIX}probe-${process.pid}-${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8', timeout: 10_000 });
  if (add.error !== undefined) return `cannot run ip (${add.error.message}); install iproute2`;
  if (add.status !== 0) return `ip netns add is not permitted here (${add.stderr.trim() || `exit ${add.status}`}); run as root`;
  tryIp(['netns', 'del', probe]);
  for (const [bin, args, pkg] of [
    ['redis-server', ['--version'], 'redis-server'],
    ['redis-cli', ['--version'], 'redis-tools'],
    ['openssl', ['version'], 'openssl'],
  ] as const) {
    if (spawnSync(bin, [...args], { stdio: 'ignore' }).status !== 0) return `needs ${bin} (Debian: ${pkg}; npm run setup:redis)`;
  }
  return undefined;
}

/** The one line printed (by the global setup) when the suite is skipped. */
export function skipLine(why: string): string {
  return `netns suite: skipped, ${why}`;
}

export interface NetnsPeer {
  /** Run the file's tests: namespaces permitted, or CI (where a missing capability must fail them). */
  readonly run: boolean;
  require(): void;
}

/**
 * What the global setup found (global-setup.ts probes once and prints the one skip
 * line): run the file's tests, or skip them; with CI=true they run and fail.
 */
export function netnsPeer(): NetnsPeer {
  const why = inject('netnsUnavailable');
  return {
    run: why === '' || inCI,
    require(): void {
      if (why !== '') expect.fail(`netns suite: ${why} (CI=true: the netns suite must run)`);
    },
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why the netns suite cannot run here; '' when it can. */
    netnsUnavailable: string;
  }
}

export interface Topology {
  /** The namespace of a host. */
  ns(host: string): string;
  /** The IPv4 address of a host. */
  addr(host: string): string;
  /** Pulls a host's cable (its port on the switch goes down) or plugs it back. */
  cut(host: string): void;
  reconnect(host: string): void;
  /** Starts `command` inside a host's namespace; killed at teardown. */
  spawn(host: string, command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Kills every process started here, then deletes the namespaces (and so every link). Idempotent. */
  teardown(): Promise<void>;
}

/** Deletes the namespaces of runs whose process is gone, killing what still runs in them. */
export function sweepStale(): void {
  let list = '';
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^wcnet-(?:probe-)?(\d+)-/.exec(name);
    if (m === null || processAlive(Number(m[1]))) continue;
    killPidsIn(name);
    tryIp(['netns', 'del', name]);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killPidsIn(ns: string): void {
  let pids = '';
  try {
    pids = ip(['netns', 'pids', ns]);
  } catch {
    return;
  }
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/**
 * Makes one namespace per host plus the switch; host i gets `${subnet}.${i + 1}/24` on
 * its eth0. Throws (after undoing what it made) if any step fails.
 */
export function createTopology(hosts: string[], subnet = '10.231.0'): Topology {
  sweepStale();
  const run = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const sw = `${run}-switch`;
  const made: string[] = [];
  const children = new Set<ChildProcess>();
  const index = new Map(hosts.map((h, i) => [h, i]));
  const known = (host: string): number => {
    const i = index.get(host);
    if (i === undefined) throw new Error(`no host ${host} in this topology`);
    return i;
  };
  const ns = (host: string): string => {
    known(host);
    return `${run}-${host}`;
  };
  const port = (host: string): string => `p${known(host)}`;

  let torn = false;
  const teardown = async (): Promise<void> => {
    if (torn) return;
    torn = true;
    await Promise.all(
      [...children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(resolve, 3000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill('SIGKILL');
          }),
      ),
    );
    for (const name of made.reverse()) {
      killPidsIn(name);
      tryIp(['netns', 'del', name]);
    }
  };

  try {
    ip(['netns', 'add', sw]);
    made.push(sw);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    hosts.forEach((host, i) => {
      const name = ns(host);
      ip(['netns', 'add', name]);
      made.push(name);
      ip(['link', 'add', 'eth0', 'netns', name, 'type', 'veth', 'peer', 'name', port(host), 'netns', sw]);
      ip(['-n', sw, 'link', 'set', port(host), 'master', 'br0']);
      ip(['-n', sw, 'link', 'set', port(host), 'up']);
      ip(['-n', name, 'addr', 'add', `${subnet}.${i + 1}/24`, 'dev', 'eth0']);
      ip(['-n', name, 'link', 'set', 'eth0', 'up']);
      ip(['-n', name, 'link', 'set', 'lo', 'up']);
    });
  } catch (err) {
    void teardown();
    throw err;
  }

  return {
    ns,
    addr: (host) => `${subnet}.${known(host) + 1}`,
    cut: (host) => void ip(['-n', sw, 'link', 'set', port(host), 'down']),
    reconnect: (host) => void ip(['-n', sw, 'link', 'set', port(host), 'up']),
    spawn(host, command, args, options = {}) {
      const child = spawn('ip', ['netns', 'exec', ns(host), command, ...args], options);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    teardown,
  };
}
