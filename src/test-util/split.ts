/** Splits `stream` at the given cut points (any order, duplicates allowed, clamped into range): chunkings for decoder tests. */
export function splitAt(stream: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    if (p > start) chunks.push(stream.subarray(start, p));
    start = Math.max(start, p);
  }
  if (start < stream.length) chunks.push(stream.subarray(start));
  return chunks;
}
