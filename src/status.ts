/**
 * Call status codes. The numbers match gRPC's where the meaning matches, so logs and
 * bridges stay legible; `METHOD_ERROR` (a handler threw) takes gRPC's UNKNOWN slot.
 */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  METHOD_ERROR: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  METHOD_NOT_FOUND: 12,
  SERVER_ERROR: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export type Status = (typeof Status)[keyof typeof Status];

const NAMES = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k]));

export function statusName(status: number): string {
  return NAMES.get(status) ?? `STATUS_${status}`;
}

export function isStatus(value: unknown): value is Status {
  return typeof value === 'number' && NAMES.has(value);
}
