/** The forms a caller may give a service's address in: endpoint string, Endpoint, or TCP host and port. */
import { parseEndpoint, validateEndpoint, type Endpoint } from '../transport/endpoint.js';

export type ServiceAddress = string | Endpoint | { host: string; port: number };

/** Any ServiceAddress as an Endpoint; throws InvalidEndpoint for a bad one. */
export function toEndpoint(address: ServiceAddress): Endpoint {
  if (typeof address === 'string') return parseEndpoint(address);
  if ('kind' in address) return validateEndpoint(address);
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return parseEndpoint(`tcp://${host}:${address.port}`);
}
