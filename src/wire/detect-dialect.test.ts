/**
 * sniffDialect and DCC-Link: a server tells a DCC-Link client (ipckit's u32 LE, the frame's
 * u32 BE, the 0x81 tag, a type) from native and envelope ones by its first bytes. The
 * server side of it is in src/rpc/dcc-link.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { encodeDccLink } from './dcc-link.js';
import { sniffDialect } from './detect-dialect.js';
import { encodeHello } from './encode.js';

describe('sniffDialect and DCC-Link', () => {
  const channel = encodeDccLink({ type: 'pong', seq: 9, body: Buffer.from('ok') });

  it('needs 10 bytes of a channel message and recognises every type', () => {
    for (let n = 0; n < 10; n++) expect(sniffDialect(channel.subarray(0, n))).toBe('more');
    expect(sniffDialect(channel.subarray(0, 10))).toBe('dcc-link');
    for (const type of ['call', 'reply', 'err', 'progress', 'cancel', 'push', 'ping', 'pong'] as const) {
      expect(sniffDialect(encodeDccLink({ type, seq: 1 }))).toBe('dcc-link');
    }
    // The largest message ipckit takes.
    const head = Buffer.alloc(10);
    head.writeUInt32LE(16 * 1024 * 1024, 0);
    head.writeUInt32BE(16 * 1024 * 1024 - 4, 4);
    head[8] = 0x81;
    head[9] = 2;
    expect(sniffDialect(head)).toBe('dcc-link');
  });

  it('takes nothing else for DCC-Link: native HELLO, lengths that disagree, another version, a legacy frame', () => {
    const hello = encodeHello({ protocol: 'wirecall', versions: [1], peerName: 'x', peerVersion: '0', maxFrameSize: 1 << 24, heartbeatMs: 0 });
    expect(sniffDialect(hello)).toBe('wirecall');
    const wrong = Buffer.from(channel);
    wrong.writeUInt32BE(13, 4);
    expect(sniffDialect(wrong)).not.toBe('dcc-link');
    const v2 = Buffer.from(channel);
    v2[8] = 0x82;
    expect(sniffDialect(v2)).not.toBe('dcc-link');
    expect(sniffDialect(encodeDccLink({ type: 'ping', seq: 1, version: 0 }))).not.toBe('dcc-link');
    // A big-endian length over the first-frame limit is 'unknown' at once, as before.
    expect(sniffDialect(Buffer.from([0x7f, 0, 0, 0x10, 0x90]), { maxFirstFrame: 1024 })).toBe('unknown');
    // …but not while it may still be a DCC-Link message (u32 LE 127), unless DCC-Link is not taken.
    expect(sniffDialect(Buffer.from([0x7f, 0, 0, 0, 0]), { maxFirstFrame: 1024 })).toBe('more');
    expect(sniffDialect(Buffer.from([0x7f, 0, 0, 0, 0]), { maxFirstFrame: 1024, dccLink: false })).toBe('unknown');
    // A whole first message is told even then (the server cuts it with a clear reason).
    expect(sniffDialect(channel, { maxFirstFrame: 1024, dccLink: false })).toBe('dcc-link');
  });
});
