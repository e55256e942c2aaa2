/**
 * PLUGIN_UNIX_SOCKET_GROUP, as go-plugin's setGroupWritable: a group given by gid or
 * name, the path handed to it (chown to that gid) and made group-writable. Node has no
 * getgrnam: names are looked up with `getent group` (every NSS source: files, LDAP…)
 * and, where there is no getent (macOS), in /etc/group.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { InvalidOption } from '../errors.js';
import { errorMessage } from '../util/error-message.js';

/** The gid of a group name or number. Throws InvalidOption for an unknown group. */
export function groupId(group: string, what: string): number {
  if (/^[0-9]{1,10}$/.test(group)) return Number(group);
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(group)) throw new InvalidOption(`${what}: ${JSON.stringify(group)} is not a group name or gid`);
  const line = getent(group) ?? etcGroup(group);
  const gid = line?.split(':')[2];
  if (gid === undefined || !/^[0-9]+$/.test(gid)) throw new InvalidOption(`${what}: no group named ${JSON.stringify(group)}`);
  return Number(gid);
}

/** chown the path to the group (owner unchanged) and chmod it to `mode`. Throws InvalidOption. */
export function setGroupWritable(file: string, group: string, mode: number, what: string): void {
  const gid = groupId(group, what);
  try {
    fs.chownSync(file, -1, gid);
    fs.chmodSync(file, mode);
  } catch (err) {
    throw new InvalidOption(`${what}: cannot give ${file} to group ${group} (gid ${gid}): ${errorMessage(err)}; this process must be a member of it`, {
      cause: err,
    });
  }
}

/** `getent group NAME`'s line; undefined when getent is missing. An unknown name: ''. */
function getent(name: string): string | undefined {
  try {
    return execFileSync('getent', ['group', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch (err) {
    // Exit code 2: no such group. ENOENT: no getent here.
    return (err as { code?: unknown }).code === 'ENOENT' ? undefined : '';
  }
}

function etcGroup(name: string): string | undefined {
  try {
    return fs
      .readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[0] === name);
  } catch {
    return undefined;
  }
}
