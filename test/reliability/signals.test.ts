/**
 * Peers that die (SIGKILL) or freeze (SIGSTOP) mid-call and mid-stream, on either side:
 * a killed peer's connection closes at once and its handlers are aborted; a frozen one
 * is declared lost by the heartbeat, 3 silent intervals after its last byte.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Children, PeerProcess, ServerProcess, loadWirecall, waitFor, type ServerEvent, type Wirecall } from './support/harness.js';

/** A short heartbeat, so that a frozen peer is found out quickly. */
const I = 200;
/** A killed peer's socket closes at once (the kernel closes it); this allows for IPC and scheduling. */
const PROMPT_MS = 750;
/** Scheduling slack on a busy 2-core machine, on top of the heartbeat bound. */
const SLACK_MS = 500;
/**
 * A frozen peer is lost once it has been silent for 3 intervals. Its last byte (a ping,
 * or the pong to ours) may precede the SIGSTOP by up to one interval, so measured from
 * the signal the loss comes between 2 and 3 intervals later (3–4 for a heartbeat that
 * checks only at its ticks); the server's own count of the silence must be >= 3I.
 */
const LOST_AFTER_MIN = 2 * I - 50;
const LOST_AFTER_MAX = 4 * I + SLACK_MS;

const children = new Children();
afterEach(() => children.cleanup());
afterAll(() => children.cleanup());

let wc: Wirecall;
beforeAll(async () => {
  wc = await loadWirecall();
});

const startedEvent = (mode: 'call' | 'stream'): string => (mode === 'call' ? 'handlerStarted' : 'streamStarted');
const endedEvent = (mode: 'call' | 'stream'): string => (mode === 'call' ? 'handlerAborted' : 'streamEnded');

async function serverWithPeer(mode: 'call' | 'stream', name: string): Promise<{ server: ServerProcess; peer: PeerProcess }> {
  const server = await ServerProcess.start(children, { heartbeatInterval: I });
  const peer = await PeerProcess.start(children, { endpoint: server.unix, name, mode, heartbeatInterval: I, readEveryMs: 20 });
  const started = await server.waitEvent((e) => e.peer === name && e.ev === startedEvent(mode), 10_000);
  expect(started, `the server is running the peer's ${mode}`).toBeDefined();
  if (mode === 'stream') {
    expect(await waitFor(() => peer.events.some((e) => e.ev === 'reading'), 5000), 'the peer is reading').toBe(true);
  }
  return { server, peer };
}

function silenceOf(e: ServerEvent | undefined): number | undefined {
  const m = /silent for (\d+) ms/.exec(e?.message ?? '');
  return m ? Number(m[1]) : undefined;
}

describe('a client process killed or stopped under the server', () => {
  for (const mode of ['call', 'stream'] as const) {
    it(`SIGKILL mid-${mode}: the server's connection closes at once and the handler's signal aborts`, async () => {
      const name = `peer-kill-${mode}`;
      const { server, peer } = await serverWithPeer(mode, name);
      const t0 = Date.now();
      peer.child.kill('SIGKILL');
      const closed = await server.waitEvent((e) => e.peer === name && e.ev === 'close', 5000);
      const ended = await server.waitEvent((e) => e.peer === name && e.ev === endedEvent(mode), 5000);
      console.log(`[reliability] SIGKILL mid-${mode}: server closed after ${closed ? closed.t - t0 : '—'} ms (${closed?.code}), handler ended after ${ended ? ended.t - t0 : '—'} ms (${ended?.code})`);
      expect(closed, 'the server closed the connection').toBeDefined();
      expect.soft(closed!.code).toBe('ERR_CONNECTION_LOST');
      expect.soft(closed!.t - t0).toBeLessThan(PROMPT_MS);
      expect(ended, 'the handler ended').toBeDefined();
      // The stream handler first reads ctx.signal in its finally block (the call handler at its start).
      if (mode === 'stream') expect.soft(ended!.aborted, "ctx.signal, first read in the handler's finally, is aborted").toBe(true);
      expect.soft(ended!.code, "ctx.signal's reason").toBe('ERR_CONNECTION_LOST');
      expect.soft(ended!.t - t0).toBeLessThan(PROMPT_MS);
    }, 30_000);

    it(`SIGSTOP mid-${mode}: the server declares the peer lost within the heartbeat bound`, async () => {
      const name = `peer-stop-${mode}`;
      const { server, peer } = await serverWithPeer(mode, name);
      const t0 = Date.now();
      peer.child.kill('SIGSTOP');
      const closed = await server.waitEvent((e) => e.peer === name && e.ev === 'close', LOST_AFTER_MAX + 5000);
      const ended = await server.waitEvent((e) => e.peer === name && e.ev === endedEvent(mode), 2000);
      peer.child.kill('SIGCONT');
      const after = closed ? closed.t - t0 : undefined;
      console.log(
        `[reliability] SIGSTOP mid-${mode}: lost after ${after ?? '—'} ms (bound ${LOST_AFTER_MIN}–${LOST_AFTER_MAX}; server: ${closed?.message}), handler: ${ended?.code}`,
      );
      expect(closed, 'the server declared the peer lost').toBeDefined();
      expect.soft(closed!.code).toBe('ERR_CONNECTION_LOST');
      expect.soft(after!).toBeGreaterThanOrEqual(LOST_AFTER_MIN);
      expect.soft(after!).toBeLessThanOrEqual(LOST_AFTER_MAX);
      const silence = silenceOf(closed);
      if (silence !== undefined) {
        expect.soft(silence, 'the silence the server counted').toBeGreaterThanOrEqual(3 * I);
        expect.soft(silence).toBeLessThanOrEqual(3 * I + SLACK_MS);
      }
      expect(ended, 'the handler ended').toBeDefined();
      if (mode === 'stream') expect.soft(ended!.aborted, "ctx.signal, first read in the handler's finally, is aborted").toBe(true);
      expect.soft(ended!.code, "ctx.signal's reason").toBe('ERR_CONNECTION_LOST');
    }, 30_000);
  }
});

describe('a server process killed or stopped under a client', () => {
  /**
   * The client's connection fails with `error` after `ms`; a stream fails once the
   * messages that arrived before the loss are read (`streamError`).
   */
  async function clientMidWay(
    mode: 'call' | 'stream',
    signal: 'SIGKILL' | 'SIGSTOP',
  ): Promise<{ error: unknown; ms: number; streamError?: unknown }> {
    const server = await ServerProcess.start(children, { heartbeatInterval: I });
    const name = `client-${signal}-${mode}`;
    const conn = await wc.connect(server.unix, { name, heartbeatInterval: I });
    children.defer(() => conn.destroy());
    const lost = new Promise<{ error: unknown; at: number }>((resolve) => conn.once('close', (error) => resolve({ error, at: Date.now() })));
    let failure: Promise<unknown>;
    if (mode === 'call') {
      failure = conn.call('sleep', { ms: 600_000, report: true }).then(
        () => new Error('the call succeeded'),
        (err: unknown) => err,
      );
    } else {
      failure = (async () => {
        try {
          for await (const _m of conn.stream('count', { n: 10_000_000, size: 1024, report: true })) {
            // A slow reader while the connection is up; what arrived before a loss is read quickly.
            if (conn.state === 'connected') await new Promise((r) => setTimeout(r, 20));
          }
          return new Error('the stream ended');
        } catch (err) {
          return err;
        }
      })();
    }
    const started = await server.waitEvent((e) => e.peer === name && e.ev === startedEvent(mode), 10_000);
    expect(started, `the server is running the client's ${mode}`).toBeDefined();
    const t0 = Date.now();
    server.child.kill(signal);
    const bound = (signal === 'SIGKILL' ? PROMPT_MS : LOST_AFTER_MAX) + 5000;
    const timeout = <T>(v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), bound));
    const closed = await Promise.race([lost, timeout({ error: new Error('the connection is still up'), at: Date.now() + bound })]);
    const failed = await Promise.race([failure, timeout(new Error(`the ${mode} is still waiting`))]);
    if (signal === 'SIGSTOP') server.child.kill('SIGCONT');
    const ms = closed.at - t0;
    const error = mode === 'call' ? failed : closed.error;
    console.log(
      `[reliability] server ${signal} mid-${mode}: the client's connection failed after ${ms} ms: ${(closed.error as Error)?.name}: ${(closed.error as Error)?.message}` +
        `; its ${mode}: ${(failed as Error)?.name}: ${(failed as Error)?.message}`,
    );
    return { error, ms, ...(mode === 'stream' ? { streamError: failed } : {}) };
  }

  for (const mode of ['call', 'stream'] as const) {
    it(`SIGKILL mid-${mode}: the client's ${mode} fails with ConnectionLost at once`, async () => {
      const { error, ms, streamError } = await clientMidWay(mode, 'SIGKILL');
      expect(error).toBeInstanceOf(wc.ConnectionLost);
      expect(ms).toBeLessThan(PROMPT_MS);
      if (mode === 'stream') expect(streamError).toBeInstanceOf(wc.ConnectionLost);
    }, 30_000);

    it(`SIGSTOP mid-${mode}: the client's ${mode} fails with ConnectionLost within the heartbeat bound`, async () => {
      const { error, ms, streamError } = await clientMidWay(mode, 'SIGSTOP');
      expect(error).toBeInstanceOf(wc.ConnectionLost);
      if (mode === 'stream') expect(streamError).toBeInstanceOf(wc.ConnectionLost);
      expect.soft(ms).toBeGreaterThanOrEqual(LOST_AFTER_MIN);
      expect.soft(ms).toBeLessThanOrEqual(LOST_AFTER_MAX);
      const silence = /silent for (\d+) ms/.exec((error as Error).message);
      if (silence) expect.soft(Number(silence[1])).toBeGreaterThanOrEqual(3 * I);
    }, 30_000);
  }
});
