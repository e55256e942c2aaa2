// micro.ts still reaches this through here; it lives in lib/ now.
export type { Sample } from './lib/stats.js';
