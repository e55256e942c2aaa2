/** In-process servers for the rpc tests, on Unix sockets in scratch dirs. */
import path from 'node:path';
import { createServer, type Server, type ServerOptions } from '../index.js';
import type { Scratch } from './scratch.js';

/** A socket path in a fresh scratch dir, and its endpoint. */
export function tempSocket(scratch: Scratch): { endpoint: string; path: string } {
  const file = path.join(scratch.dir(), 'rpc.sock');
  return { endpoint: `unix:${file}`, path: file };
}

export interface TestServer {
  server: Server;
  /** The endpoint bound. */
  url: string;
  /** The Unix socket's path ('' when `endpoint` was given). */
  path: string;
}

/**
 * A server with heartbeats off (unless `options` sets them), the methods `register`
 * adds, listening on `endpoint` or on a fresh Unix socket; closed at the scratch's cleanup.
 */
export async function startServer(
  scratch: Scratch,
  options: ServerOptions,
  register: (server: Server) => void,
  endpoint?: string,
): Promise<TestServer> {
  const server = scratch.server(createServer({ heartbeatInterval: 0, ...options }));
  register(server);
  const socket = endpoint === undefined ? tempSocket(scratch) : undefined;
  const url = await server.listen(endpoint ?? socket!.endpoint);
  return { server, url, path: socket?.path ?? '' };
}
