/** The extra groups, in the order they run and print. */
import { connectionScenarios } from './connections.js';
import { microScenarios } from './micro.js';
import { notifyScenarios } from './notify.js';
import { payloadScenarios } from './payload.js';
import type { Scenario } from './scenario.js';
import { unaryScenarios } from './unary.js';

export interface Group {
  name: string;
  heading: string;
  /** Which rate leads the table. */
  primary: 'ops' | 'mb';
  scenarios: () => Scenario[];
}

export const GROUPS: readonly Group[] = [
  { name: 'unary', heading: 'Unary calls (32 B argument, echoed)', primary: 'ops', scenarios: unaryScenarios },
  { name: 'payload', heading: 'Payload sizes (Buffer echo, server in a child process)', primary: 'mb', scenarios: payloadScenarios },
  { name: 'notify', heading: 'Notifications (fire-and-forget, counted by the server)', primary: 'ops', scenarios: notifyScenarios },
  { name: 'connections', heading: 'Many connections to one server', primary: 'ops', scenarios: connectionScenarios },
  { name: 'micro', heading: 'Micro-benchmarks (no sockets)', primary: 'ops', scenarios: microScenarios },
];
