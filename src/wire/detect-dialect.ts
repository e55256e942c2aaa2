import type { DetectedDialect } from './dcc-mcp-messages.js';
import { DCC_LINK_HEADER, DCC_LINK_PREFIX, DCC_LINK_VERSION, IPCKIT_MAX_MESSAGE, IPCKIT_PREFIX } from './dcc-link.js';
import { HEADER_SIZE } from './frame-decoder.js';

/** Every protocol a connection may speak: the two with MessagePack frames, and DCC-Link (dcc-link.ts). */
export type Dialect = DetectedDialect | 'dcc-link';

/**
 * The dialect of a connection from its first frame payload `source[start, end)`, read from
 * the bytes without decoding: a native HELLO is an array whose element 0 is the integer 1;
 * a dcc-mcp envelope is an array whose element 0 is a string. Returns null for anything
 * else (including an array starting with another integer: a native peer must begin with
 * HELLO). Only the first bytes are looked at; the chosen dialect's decoder checks the rest.
 */
export function detectDialect(source: Uint8Array, start = 0, end = source.length): DetectedDialect | null {
  let at = start;
  if (at >= end) return null;
  const head = source[at]!;
  if (head >= 0x90 && head <= 0x9f) {
    if (head === 0x90) return null; // empty array
    at += 1;
  } else if (head === 0xdc || head === 0xdd) {
    const n = head === 0xdc ? 3 : 5;
    if (end - at < n) return null;
    let len = 0;
    for (let i = 1; i < n; i++) len = len * 256 + source[at + i]!;
    if (len === 0) return null;
    at += n;
  } else {
    return null;
  }
  if (at >= end) return null;
  const first = source[at]!;
  if ((first >= 0xa0 && first <= 0xbf) || first === 0xd9 || first === 0xda || first === 0xdb) return 'dcc-mcp';
  if (first === 0x01) return 'wirecall';
  // The integer 1 in a wider encoding (uint 8-64 cc-cf, int 8-64 d0-d3): other writers may use one.
  const widths: Record<number, number> = { 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8 };
  const width = widths[first];
  if (width === undefined || end - at < 1 + width) return null;
  for (let i = 1; i < width; i++) if (source[at + i] !== 0) return null;
  return source[at + width] === 1 ? 'wirecall' : null;
}

/** Payload bytes `detectDialect` may need: an array header (up to 5) and the integer 1 in its widest form (9). */
export const DIALECT_SNIFF_BYTES = 14;

export interface SniffOptions {
  /** While undecided: a big-endian length over this is 'unknown' at once. Default: no limit. */
  maxFirstFrame?: number;
  /** Wait for the 10 bytes that tell a DCC-Link message (the server takes DCC-Link). Default true. */
  dccLink?: boolean;
}

/** Bytes that tell a DCC-Link channel message: ipckit's u32 LE, the frame's u32 BE, the version tag and the type. */
export const DCC_LINK_SNIFF_BYTES = IPCKIT_PREFIX + DCC_LINK_PREFIX + 2;

/**
 * The dialect of a connection from the first bytes it sent, length prefix included,
 * before its first frame need be complete: `'more'` while too few bytes are in to tell
 * (never more than HEADER_SIZE + DIALECT_SNIFF_BYTES), `'unknown'` when they are neither
 * a HELLO, an envelope nor a DCC-Link message (the native decoder then explains what is
 * wrong).
 *
 * A DCC-Link message is `[u32 LE m][u32 BE m - 4][0x81][type 1-8]…` (m ≤ 16 MiB, so
 * its fifth byte is 0); a native or envelope frame has a MessagePack array header (0x9X,
 * 0xdc, 0xdd) in that place. The two lengths agreeing, the version tag and the type are
 * what is checked, so no native or envelope first frame passes for DCC-Link. Legacy
 * (version 0) first frames are not recognised: the tag is the only byte that says
 * "DCC-Link".
 *
 * While it is still `'more'`, a first frame whose big-endian length is over
 * `maxFirstFrame` is `'unknown'` at once (the decoder refuses it), unless it may still be
 * a DCC-Link message and `dccLink` is not false. (dcc-mcp-core writes ipckit's prefix and
 * the frame in two writes, so the first chunk of a DCC-Link client may hold only the
 * prefix; a server that does not take DCC-Link does not wait for more: it tells a
 * DCC-Link client only when its first chunk has 10 bytes.)
 */
export function sniffDialect(head: Buffer, options: SniffOptions = {}): Dialect | 'unknown' | 'more' {
  if (head.length < HEADER_SIZE) return 'more';
  const m = head.readUInt32LE(0);
  if (m >= DCC_LINK_PREFIX + DCC_LINK_HEADER && m <= IPCKIT_MAX_MESSAGE) {
    if (head.length < DCC_LINK_SNIFF_BYTES) {
      if (options.dccLink !== false) return 'more';
    } else {
      const type = head[IPCKIT_PREFIX + DCC_LINK_PREFIX + 1]!;
      const tag = head[IPCKIT_PREFIX + DCC_LINK_PREFIX];
      if (head.readUInt32BE(IPCKIT_PREFIX) === m - DCC_LINK_PREFIX && tag === (0x80 | DCC_LINK_VERSION) && type >= 1 && type <= 8) return 'dcc-link';
    }
  }
  const length = head.readUInt32BE(0);
  const have = head.length - HEADER_SIZE;
  const verdict = detectDialect(head, HEADER_SIZE, HEADER_SIZE + Math.min(have, length));
  if (verdict !== null) return verdict;
  return have >= Math.min(length, DIALECT_SNIFF_BYTES) || length > (options.maxFirstFrame ?? Number.POSITIVE_INFINITY) ? 'unknown' : 'more';
}
