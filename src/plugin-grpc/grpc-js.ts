/**
 * @grpc/grpc-js, an optional peer dependency, loaded on first use with require() (as pb.ts
 * loads protobufjs; no top-level await: the module graph stays loadable by require()), so
 * that `import 'wirecall/plugin-grpc'` works without it. Every other module of the adapter
 * imports only grpc-js's types (`import type`, erased from the JavaScript). serveGrpcPlugin()
 * and launchGrpcPlugin() call loadPeerDependencies() first, so a missing package is a
 * GrpcPluginUnavailable before anything is bound or started; after that, grpcJs() is a
 * variable read (and the adapter's code takes what it needs from it once per server or
 * channel, not per call).
 *
 * grpc-js is CommonJS only (no `exports` conditions): require() and an ESM `import` of it
 * resolve the same file and share Node's module cache, so the classes the user's code gets
 * (`new grpc.Server()`) are the ones this module gets (grpc-js checks ServerCredentials with
 * instanceof).
 */
import { createRequire } from 'node:module';
import type grpc from '@grpc/grpc-js';
import { GrpcPluginUnavailable, peersUnavailable } from './errors.js';
import { loadProtobuf } from './pb.js';

type GrpcJs = typeof grpc;
let loaded: GrpcJs | undefined;

/**
 * The grpc-js module, loaded once; throws GrpcPluginUnavailable when it cannot be loaded (a
 * failed load is tried again next time). Internal: its return type must not reach the
 * shipped .d.ts of index.ts (this module's own .d.ts is not imported by it).
 */
export function grpcJs(): GrpcJs {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)('@grpc/grpc-js') as GrpcJs;
  } catch (err) {
    throw peersUnavailable(['@grpc/grpc-js'], [err]);
  }
  return loaded;
}

/**
 * Loads @grpc/grpc-js and protobufjs; GrpcPluginUnavailable names every one missing, so
 * that one `npm install` fixes it. serveGrpcPlugin() and launchGrpcPlugin() call it first.
 */
export function loadPeerDependencies(): void {
  const names: string[] = [];
  const causes: unknown[] = [];
  for (const [name, load] of [
    ['@grpc/grpc-js', grpcJs],
    ['protobufjs', loadProtobuf],
  ] as const) {
    try {
      load();
    } catch (err) {
      if (!(err instanceof GrpcPluginUnavailable)) throw err;
      names.push(name);
      causes.push(err.cause);
    }
  }
  if (names.length !== 0) throw peersUnavailable(names, causes);
}
