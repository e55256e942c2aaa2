/**
 * Registry timestamps. dcc-mcp-core (Rust, serde's SystemTime) writes
 * `{"secs_since_epoch", "nanos_since_epoch"}`; Python plugins write integer or float Unix
 * seconds. We read all three and always write the object form, which every reader accepts.
 * In memory a timestamp is milliseconds since the Unix epoch (a float keeps sub-ms parts).
 */

export interface WireTimestamp {
  secs_since_epoch: number;
  nanos_since_epoch: number;
}

const NANOS_PER_SEC = 1_000_000_000;

export function toWireTimestamp(ms: number): WireTimestamp {
  let secs = Math.floor(ms / 1000);
  let nanos = Math.round((ms - secs * 1000) * 1_000_000);
  // Rounding can carry into the next second.
  if (nanos >= NANOS_PER_SEC) {
    secs += 1;
    nanos -= NANOS_PER_SEC;
  }
  return { secs_since_epoch: secs, nanos_since_epoch: nanos };
}

/** Milliseconds since the epoch, or undefined when `value` is not a timestamp in any known form. */
export function fromWireTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { secs_since_epoch: secs, nanos_since_epoch: nanos } = value as Partial<Record<string, unknown>>;
  if (!Number.isSafeInteger(secs) || (secs as number) < 0) return undefined;
  if (!Number.isSafeInteger(nanos) || (nanos as number) < 0 || (nanos as number) >= NANOS_PER_SEC) return undefined;
  return (secs as number) * 1000 + (nanos as number) / 1_000_000;
}
