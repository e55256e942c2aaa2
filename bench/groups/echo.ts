/**
 * One echo client interface over the three implementations, so a scenario is written
 * once and run against wirecall, grpc-js and the raw-bytes floor alike.
 */
import { openGrpcClient } from '../systems/grpc.js';
import { openRawBytesClient } from '../systems/raw-bytes.js';
import { openWirecallClient } from '../systems/wirecall.js';

/** What answers the calls. `raw` is a bare net echo server (raw-bytes): the transport's floor. */
export type Impl = 'wirecall' | 'grpc-js' | 'raw';

/** How an impl is named in the tables. */
export function implLabel(impl: Impl): string {
  return impl === 'raw' ? 'raw bytes' : impl;
}

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

export async function openEchoClient(impl: Impl, endpoint: string, options: EchoClientOptions = {}): Promise<EchoClient> {
  switch (impl) {
    case 'wirecall': {
      const { conn, close } = await openWirecallClient(endpoint);
      const callOptions = options.timeout === undefined ? undefined : { timeout: options.timeout };
      return {
        call: callOptions === undefined ? (p) => conn.call('echo', p) : (p) => conn.call('echo', p, callOptions),
        close,
      };
    }
    case 'grpc-js': {
      const client = await openGrpcClient(endpoint);
      return { call: client.echoBytes, close: client.close };
    }
    case 'raw':
      return openRawBytesClient(endpoint, options.messageSize ?? 32);
  }
}
