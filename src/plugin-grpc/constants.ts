/** The handshake line's PROTOCOL field for gRPC, as go-plugin writes it. */
export const GRPC_PROTOCOL = 'grpc';
