/**
 * wirecall/plugin: launch a tool process as a plugin and be launched as one, with
 * HashiCorp go-plugin's handshake (docs/PLUGINS.md). PROTOCOL `wirecall`: wirecall's own
 * protocol over the announced socket.
 */
export { launchPlugin, type LaunchOptions, type LaunchedPlugin, type PluginExit } from './launch.js';
export { servePlugin, type ServePluginOptions, type ServedPlugin } from './serve.js';
export {
  CORE_PROTOCOL_VERSION,
  WIRECALL_PROTOCOL,
  DEFAULT_HANDSHAKE,
  NOT_A_COMMAND_MESSAGE,
  parseHandshakeLine,
  formatHandshakeLine,
  chooseAppVersion,
  type HandshakeConfig,
  type HandshakeLine,
} from './handshake.js';
export { certField, certFromField } from './cert-field.js';
export {
  AUTO_MTLS_SERVER_NAME,
  generateAutoMTLSCert,
  parseClientCert,
  autoMTLSServerOptions,
  autoMTLSClientOptions,
  type AutoMTLSCert,
  type AutoMTLSCertOptions,
} from './auto-mtls.js';
export {
  PluginError,
  PluginStartFailed,
  PluginExited,
  PluginHandshakeTimeout,
  PluginHandshakeInvalid,
  PluginVersionMismatch,
  PluginProtocolMismatch,
  PluginAutoMTLSUnavailable,
  PluginClientCertInvalid,
} from './errors.js';
