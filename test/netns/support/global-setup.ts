/**
 * Once before the suite: can this machine make network namespaces (and run redis-server,
 * redis-cli, openssl)? If not, the ONE line saying why (outside CI; with CI=true the
 * tests fail instead), and the reason goes to the test files (inject('netnsUnavailable')).
 * If so, dist/ is built when older than the sources (the hosts' processes run it).
 */
import type { TestProject } from 'vitest/node';
import { buildIfStale } from '../../../src/test-util/build.js';
import { inCI, netnsUnavailable, skipLine } from './netns.js';

export default async function setup(project: TestProject): Promise<void> {
  const why = netnsUnavailable();
  project.provide('netnsUnavailable', why ?? '');
  if (why !== undefined) {
    if (!inCI) process.stderr.write(`${skipLine(why)}\n`);
    return;
  }
  await buildIfStale();
}
