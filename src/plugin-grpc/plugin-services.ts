/**
 * The plugin side's implementations of go-plugin's own services, added beside the
 * user's services on one grpc-js server:
 *
 * - grpc.health.v1.Health/Check: SERVING for "plugin" (what go-plugin hosts ask) and ""
 *   (the whole server), NOT_SERVING for both once shutting down; any other name is
 *   NOT_FOUND, as grpc's health server answers.
 * - grpc.health.v1.Health/Watch: the current status at once (SERVICE_UNKNOWN for another
 *   name, the stream kept open, as grpc's health server does), NOT_SERVING when the
 *   shutdown starts, and the end of the stream when the server stops.
 * - plugin.GRPCController/Shutdown: answers, then asks for the shutdown (the host waits
 *   for the process to exit; go-plugin hosts kill it 2 s later).
 * - plugin.GRPCBroker/StartStream: kept open (go-plugin hosts open it at once) and ended
 *   at shutdown. Brokered connections are not offered: ConnInfo from the host is ignored,
 *   and a multiplexing knock is refused.
 * - plugin.GRPCStdio/StreamStdio: see stdio.ts.
 */
import type grpc from '@grpc/grpc-js';
import { grpcJs } from './grpc-js.js';
import { ServingStatus, type ConnInfo, type Empty, type HealthCheckRequest, type HealthCheckResponse, type StdioData } from './pb.js';
import { BrokerService, ControllerService, GO_PLUGIN_HEALTH_SERVICE, HealthService, StdioService } from './services.js';
import type { StdioForwarder } from './stdio.js';

export interface GoPluginServices {
  /** Health answers NOT_SERVING from now on, and tells its watchers. */
  notServing(): void;
  /** Ends the broker, health watch and stdio streams (so a graceful server shutdown need not wait for them). */
  endStreams(): void;
}

export function addGoPluginServices(server: grpc.Server, stdio: StdioForwarder, onShutdownRequest: () => void): GoPluginServices {
  const { status: code } = grpcJs();
  let serving = true;
  const brokers = new Set<grpc.ServerDuplexStream<ConnInfo, ConnInfo>>();
  const watchers = new Set<grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();
  const known = (name: string): boolean => name === GO_PLUGIN_HEALTH_SERVICE || name === '';
  const status = (): number => (serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);

  server.addService(HealthService, {
    check(call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) {
      const name = call.request.service;
      if (!known(name)) {
        callback({ code: code.NOT_FOUND, details: `unknown service ${JSON.stringify(name)}` });
        return;
      }
      callback(null, { status: status() });
    },
    watch(call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) {
      call.write({ status: known(call.request.service) ? status() : ServingStatus.SERVICE_UNKNOWN });
      if (!serving) {
        call.end();
        return;
      }
      watchers.add(call);
      const done = (): void => {
        watchers.delete(call);
      };
      call.on('cancelled', done);
      call.on('close', done);
      call.on('error', done);
    },
  });

  server.addService(ControllerService, {
    shutdown(_call: grpc.ServerUnaryCall<Empty, Empty>, callback: grpc.sendUnaryData<Empty>) {
      callback(null, {});
      // After the reply is on its way: the shutdown drains in-flight calls, this one included.
      setImmediate(onShutdownRequest);
    },
  });

  server.addService(BrokerService, {
    startStream(call: grpc.ServerDuplexStream<ConnInfo, ConnInfo>) {
      brokers.add(call);
      const done = (): void => {
        brokers.delete(call);
      };
      call.on('data', (info: ConnInfo) => {
        if (info.knock?.knock === true && !info.knock.ack) {
          call.write({ serviceId: info.serviceId, network: '', address: '', knock: { knock: true, ack: false, error: 'this plugin does not support gRPC broker multiplexing' } });
        }
      });
      call.on('end', () => {
        done();
        call.end();
      });
      call.on('cancelled', done);
      call.on('error', done);
    },
  });

  server.addService(StdioService, {
    streamStdio(call: grpc.ServerWritableStream<Empty, StdioData>) {
      stdio.subscribe(call);
    },
  });

  return {
    notServing() {
      if (!serving) return;
      serving = false;
      for (const call of watchers) if (known(call.request.service)) call.write({ status: ServingStatus.NOT_SERVING });
    },
    endStreams() {
      for (const call of [...brokers, ...watchers]) call.end();
      brokers.clear();
      watchers.clear();
      stdio.close();
    },
  };
}
