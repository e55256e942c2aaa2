/** Raw sockets for the transport's tests: an echoing server and one round trip through it. */
import type net from 'node:net';
import type { Scratch } from './scratch.js';

/** Writes bytes and reads back the same number of bytes (for echo servers). */
export async function echoRoundTrip(socket: net.Socket, payload: Buffer, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => done(new Error('echo timed out')), timeoutMs);
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      if (size >= payload.length) done();
    };
    const onError = (e: Error): void => done(e);
    const done = (e?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      if (e) reject(e);
      else resolve(Buffer.concat(chunks));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.write(payload);
  });
}

/** An onConnection that echoes; the accepted sockets are destroyed at the scratch's cleanup. */
export function echoServer(scratch: Scratch): (socket: net.Socket) => void {
  return (socket) => {
    scratch.socket(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  };
}
