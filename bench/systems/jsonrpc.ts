/**
 * vscode-jsonrpc in the spec suite: JSON-RPC 2.0 with its usual `Content-Length` header
 * framing over a plain `net` socket (SocketMessageReader / SocketMessageWriter), the way
 * a language server talks to its editor.
 *
 * It has no streams, so a server stream is emulated the way its users do it: the
 * request `small`/`chunks` makes the server send `count` notifications (`item`), then
 * answer the request; the connection keeps order, so when the answer arrives every
 * notification has been received. The server waits for the writer every 256
 * notifications, which bounds what it queues. JSON has no binary type: a chunk is a
 * 64 KiB ASCII string.
 */
import net from 'node:net';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { dial, listenOn, socketServer, type TransportKind } from '../lib/sockets.js';
import { CHUNK_TEXT, PARAMS, smallMessage, type StreamKind, type SystemClient, type SystemServer } from './common.js';

function open(socket: net.Socket): MessageConnection {
  return createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
}

const WAIT_EVERY = 256;

export async function startJsonRpcServer(transport: TransportKind): Promise<SystemServer> {
  const sockets = new Set<net.Socket>();
  const server = socketServer(transport, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const conn = open(socket);
    conn.onRequest('echo', (params: unknown) => params);
    const stream = (kind: StreamKind) => async (params: { count: number }): Promise<number> => {
      let last: Promise<void> = Promise.resolve();
      for (let seq = 0; seq < params.count; seq++) {
        last = conn.sendNotification('item', kind === 'small' ? smallMessage(seq) : CHUNK_TEXT);
        if (seq % WAIT_EVERY === WAIT_EVERY - 1) await last;
      }
      await last;
      return params.count;
    };
    conn.onRequest('small', stream('small'));
    conn.onRequest('chunks', stream('chunks'));
    conn.onError(() => {});
    conn.onClose(() => conn.dispose());
    socket.on('close', () => {
      sockets.delete(socket);
      conn.dispose();
    });
    conn.listen();
  });
  return listenOn(server, transport, sockets);
}

export async function openJsonRpcClient(endpoint: string): Promise<SystemClient> {
  const socket = await dial(endpoint);
  const conn = open(socket);
  let received = 0;
  conn.onNotification('item', () => {
    received++;
  });
  conn.onError(() => {});
  conn.listen();
  return {
    unary: () => conn.sendRequest('echo', PARAMS),
    stream: async (kind, count) => {
      received = 0;
      await conn.sendRequest(kind, { count });
      return received;
    },
    close: async () => {
      conn.dispose();
      socket.destroy();
    },
  };
}
