/**
 * raw-bytes: the floor of the extra groups' unary rows. A bare socket that writes back
 * whatever it reads: no framing, no encoding, no ids. Its client writes a message of a
 * fixed size and waits until as many bytes came back; replies come back in order, so a
 * FIFO of waiters is enough.
 */
import net from 'node:net';
import { dial, listenOn, socketServer, type Listener, type TransportKind } from '../lib/sockets.js';

export async function startRawBytesServer(transport: TransportKind): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const server = socketServer(transport, (socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  return listenOn(server, transport, sockets);
}

/** Every message is exactly `messageSize` bytes: the echo has no framing to tell them apart. */
export async function openRawBytesClient(
  endpoint: string,
  messageSize: number,
): Promise<{ call(payload: Buffer): Promise<unknown>; close(): Promise<void> }> {
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
