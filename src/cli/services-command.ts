/** `wirecall services [dccType] [--json] [--all]`: the instances in the service registry. */
import { Command } from 'commander';
import { formatEndpoint } from '../index.js';
import { endpointOf, type Liveness, type ServiceEntry } from '../manager/index.js';
import { registryFlag } from './connect-target.js';
import { EXIT_CODES_HELP } from './common.js';
import { readRegistry } from './registry-read.js';

interface ServicesFlags {
  json?: boolean;
  all?: boolean;
  registryDir?: string;
}

export function servicesCommand(): Command {
  return registryFlag(
    new Command('services')
      .description('list the live service instances in the registry')
      .argument('[dccType]', 'only instances of this DCC type, e.g. maya'),
  )
    .option('--json', 'print a JSON array instead of a table')
    .option('--all', 'also list stale rows (no recent heartbeat) and dead ones (their process is gone)')
    .addHelpText(
      'after',
      `
The table has one row per instance: DCC TYPE, INSTANCE, ENDPOINT, STATUS, VERSION,
SCENE, PID and the age of its last heartbeat (with --all also LIVENESS). --json
prints an array of objects with dccType, instanceId, endpoint (tls://… for an
instance serving TLS), tls, status, host, port,
version, scene, pid, metadata, registeredAt and lastHeartbeat (ISO 8601), liveness.
Only instances whose status is available or busy are picked by "wirecall call <dccType>".
With no instance to show, the table is a single line saying so (--json: []).
Listing changes nothing: a missing registry directory is not created, and a corrupt
services.json is read as empty (with a warning) and left as it is.
With $WIRECALL_REGISTRY=redis://host:port/db (and no --registry-dir) the rows come from
that Redis registry instead, shown the same way; there every listed row is live
(an instance whose lease ran out is gone). A Redis server that cannot be reached
exits 3 (ERR_CONNECTION_FAILED).
${EXIT_CODES_HELP}`,
    )
    .action(async (dccType: string | undefined, flags: ServicesFlags) => {
      const { where, rows: all } = await readRegistry(flags, (message) => process.stderr.write(`warning: ${message}\n`));
      const rows = all
        .filter((r) => (dccType === undefined || r.entry.dccType === dccType) && (flags.all === true || r.liveness === 'live'))
        .sort((a, b) => a.entry.dccType.localeCompare(b.entry.dccType) || a.entry.registeredAt - b.entry.registeredAt);
      if (flags.json === true) {
        process.stdout.write(JSON.stringify(rows.map(toJson), null, 2) + '\n');
      } else if (rows.length > 0) {
        process.stdout.write(table(rows, flags.all === true));
      } else {
        const what = dccType === undefined ? 'services' : `instances of ${dccType}`;
        process.stdout.write(`no ${flags.all === true ? '' : 'live '}${what} (registry ${where})\n`);
      }
    });
}

function endpointText(entry: ServiceEntry): string {
  try {
    return formatEndpoint(endpointOf(entry));
  } catch {
    return '-'; // a row nobody can connect to (e.g. a named pipe on POSIX)
  }
}

function toJson({ entry, liveness }: { entry: ServiceEntry; liveness: Liveness }): Record<string, unknown> {
  return {
    dccType: entry.dccType,
    instanceId: entry.instanceId,
    endpoint: endpointText(entry),
    tls: entry.tls === true,
    status: entry.status,
    liveness,
    host: entry.host,
    port: entry.port,
    version: entry.version,
    scene: entry.scene,
    pid: entry.pid ?? null,
    metadata: entry.metadata,
    registeredAt: new Date(entry.registeredAt).toISOString(),
    lastHeartbeat: new Date(entry.lastHeartbeat).toISOString(),
  };
}

function table(rows: Array<{ entry: ServiceEntry; liveness: Liveness }>, withLiveness: boolean): string {
  const now = Date.now();
  const header = ['DCC TYPE', 'INSTANCE', 'ENDPOINT', 'STATUS', 'VERSION', 'SCENE', 'PID', 'HEARTBEAT'];
  if (withLiveness) header.push('LIVENESS');
  const lines = rows.map(({ entry, liveness }) => {
    const cells = [
      entry.dccType,
      entry.instanceId,
      endpointText(entry),
      entry.status,
      entry.version ?? '-',
      entry.scene ?? '-',
      entry.pid === undefined ? '-' : String(entry.pid),
      `${Math.max(0, Math.round((now - entry.lastHeartbeat) / 1000))}s ago`,
    ];
    if (withLiveness) cells.push(liveness);
    // One row per line whatever the registry holds.
    return cells.map((c) => c.replace(/\s+/g, ' '));
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((cells) => cells[i]!.length)));
  const format = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd() + '\n';
  return format(header) + lines.map(format).join('');
}
