/** Builds dist/ once before the suite when it is older than the sources (the hosts' processes run it). */
import { buildIfStale } from '../../../src/test-util/build.js';

export default async function setup(): Promise<void> {
  await buildIfStale();
}
