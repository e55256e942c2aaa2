/**
 * One echo client interface over the three implementations, so a scenario is written
 * once and run against wirecall, grpc-js and the raw-socket floor alike.
 */
import { connect, type Connection } from '../src/index.js';
import type { Impl } from './harness.js';
import { dial } from './lib/sockets.js';
import { openGrpcClient } from './systems/grpc.js';

export interface EchoClient {
  /** Send `payload`, resolve with the echoed reply. */
  call(payload: Buffer): Promise<unknown>;
  close(): Promise<void>;
}

export interface EchoClientOptions {
  /** wirecall only: give every call this deadline (exercises the TimerQueue). */
  timeout?: number;
  /** raw only: every message has exactly this size (the raw echo has no framing). */
  messageSize?: number;
}

export async function openWirecall(endpoint: string): Promise<Connection> {
  return connect(endpoint, { name: 'bench-client' });
}

export async function closeWirecall(conn: Connection): Promise<void> {
  await Promise.race([conn.close({ drainTimeout: 500 }), new Promise((r) => setTimeout(r, 2000))]);
  if (conn.state !== 'closed') conn.destroy();
}

export async function openEchoClient(impl: Impl, endpoint: string, options: EchoClientOptions = {}): Promise<EchoClient> {
  switch (impl) {
    case 'wirecall': {
      const conn = await openWirecall(endpoint);
      const callOptions = options.timeout === undefined ? undefined : { timeout: options.timeout };
      return {
        call: callOptions === undefined ? (p) => conn.call('echo', p) : (p) => conn.call('echo', p, callOptions),
        close: () => closeWirecall(conn),
      };
    }
    case 'grpc-js': {
      const client = await openGrpcClient(endpoint);
      return { call: client.echoBytes, close: client.close };
    }
    case 'raw':
      return openRawClient(endpoint, options.messageSize ?? 32);
  }
}

/**
 * The floor: write the bytes, wait until as many bytes came back. No framing, no
 * encoding, no ids: replies come back in order, so a FIFO of waiters is enough.
 */
async function openRawClient(endpoint: string, messageSize: number): Promise<EchoClient> {
  const socket = await dial(endpoint);
  const waiters: ((value: unknown) => void)[] = [];
  let head = 0;
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    while (received >= messageSize && head < waiters.length) {
      received -= messageSize;
      waiters[head++]!(undefined);
    }
    if (head > 4096 && head * 2 > waiters.length) {
      waiters.splice(0, head);
      head = 0;
    }
  });
  return {
    call: (p) =>
      new Promise((resolve) => {
        if (p.length !== messageSize) throw new Error(`raw client expects ${messageSize}-byte messages, got ${p.length}`);
        waiters.push(resolve);
        socket.write(p);
      }),
    close: async () => {
      socket.destroy();
    },
  };
}
