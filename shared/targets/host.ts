import { isIP } from 'node:net';
import { z } from 'zod';

/** One DNS label: letters, digits and hyphens, not starting or ending with a hyphen (RFC 1123). */
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** True for a host name (RFC 1123 labels, an optional trailing dot) or an IPv4 / IPv6 address. */
export function isHost(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name === '' || name.length > 253) return false;
  const labels = name.split('.');
  // An all-numeric last label would be read as an (invalid) IPv4 address by resolvers.
  if (/^\d+$/.test(labels[labels.length - 1]!)) return false;
  return labels.every((l) => LABEL.test(l));
}

/** A host name or IP address (no port, no brackets, no URL): a 400 naming the field otherwise. */
export const HostSchema = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .refine(isHost, { message: 'expected a host name or an IP address' });

export const PortSchema = z.number().int().min(1).max(65_535);

/** `host:port` with an IPv6 address in brackets, for messages and endpoints. */
export const hostPort = (host: string, port: number): string =>
  `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
