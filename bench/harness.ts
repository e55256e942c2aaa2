// micro.ts still reaches these through here until it moves to groups/.
export type { Prepared, Scenario } from './groups/scenario.js';
export { batchLoop } from './lib/loops.js';
export { payload, rng } from './lib/inputs.js';
