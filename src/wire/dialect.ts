/**
 * The seam between framing and meaning. A dialect turns messages into complete frames
 * and frame payloads back into messages; the framing (`FrameDecoder`, `FrameWriter`) is
 * shared by every dialect. The native wirecall protocol is one dialect; the
 * dcc-mcp-core envelope is another, added beside it.
 */
export interface Dialect<M> {
  readonly name: string;
  /** One message as a complete frame, length prefix included. */
  encode(message: M): Buffer;
  /** The frame payload `source[start, end)` as a message; throws ProtocolError when it is not one. */
  decode(source: Buffer, start?: number, end?: number): M;
  /** The same for a payload a FrameDecoder delivered: its structure was scanned already. */
  decodeScanned(source: Buffer, start: number, end: number): M;
}
