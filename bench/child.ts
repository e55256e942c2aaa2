/**
 * Every child process of the benchmark (bench/lib/processes.ts forks it), by role:
 *
 *   child.js server <name> <tcp|unix|tls> [maxConcurrentCalls]
 *       a server of the spec suite or the extra groups (bench/systems/index.ts); sends
 *       `{ type: 'ready', endpoint }`.
 *   child.js client <system>
 *       a spec client process (bench/spec-suite/client-process.ts): answers `open`,
 *       `warm`, `run` and `close` requests.
 *   child.js memory <tcp|unix>
 *       the memory probe (bench/groups/memory.ts); started with --expose-gc, sends
 *       `{ type: 'ready', result }` and exits.
 *
 * Every child exits when its parent goes away (IPC disconnect).
 */
import { measureHeldCalls } from './groups/memory.js';
import { tellParent } from './lib/processes.js';
import { serveClient } from './spec-suite/client-process.js';
import { SYSTEMS, type SystemName } from './systems/common.js';
import { SERVER_NAMES, serveInChild, type ServerName } from './systems/index.js';

async function main(): Promise<void> {
  const [role, a, b, c] = process.argv.slice(2);
  if (process.send === undefined) {
    console.error('child.js is started by the benchmark (bench/run.ts), not by hand');
    process.exit(2);
  }
  try {
    if (role === 'server' && SERVER_NAMES.includes(a as ServerName) && (b === 'tcp' || b === 'unix' || b === 'tls')) {
      await serveInChild(a as ServerName, b, c === undefined ? {} : { maxConcurrentCalls: Number(c) });
    } else if (role === 'client' && SYSTEMS.includes(a as SystemName)) {
      process.on('disconnect', () => process.exit(0));
      await serveClient(a as SystemName);
    } else if (role === 'memory' && (a === 'tcp' || a === 'unix')) {
      process.on('disconnect', () => process.exit(0));
      const result = await measureHeldCalls(a);
      await tellParent({ type: 'ready', result });
      process.exit(0);
    } else {
      throw new Error(`usage: child.js server <${SERVER_NAMES.join('|')}> <tcp|unix|tls> | client <system> | memory <tcp|unix>; got ${process.argv.slice(2).join(' ')}`);
    }
  } catch (err) {
    await tellParent({ type: 'error', error: String((err as Error)?.stack ?? err) });
    process.exit(1);
  }
}

void main();
