import { z } from 'zod';
import { changeViaParts, type TargetKindSpec } from './spec.js';
import { PemCertificateSchema } from './tls-pin.js';

/**
 * TLS to the database server. `disable`: plain TCP. `require`: encrypted, the server's certificate
 * is not checked (libpq's sslmode=require). `verify-full`: encrypted, the certificate must chain to
 * `ca` (or the system's roots without it) and name `host`.
 */
export const ServiceTlsSchema = z.strictObject({
  mode: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  /** PEM certificate(s) of the CA that signed the server's certificate. */
  ca: PemCertificateSchema.optional(),
});
export type ServiceTls = z.infer<typeof ServiceTlsSchema>;

const port = z.number().int().min(1).max(65_535);

const common = {
  /** Host name or IP address of the database server. */
  host: z.string().trim().min(1).max(253),
  tls: ServiceTlsSchema.default({ mode: 'disable' }),
  /**
   * `self`: the account changes its own password (logs in with the current one).
   * `privileged`: an admin account (the credential `privilegedCredentialId`, same site) resets it.
   */
  changeVia: z.enum(['self', 'privileged']).default('self'),
  privilegedCredentialId: z.uuid().optional(),
  /** Time allowed to connect, and for each statement. */
  connectTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
};

export const PostgresConnectionSchema = z.strictObject({
  driver: z.literal('postgres'),
  ...common,
  port: port.default(5432),
  database: z.string().min(1).max(63).default('postgres'),
});

export const MysqlConnectionSchema = z.strictObject({
  /** MariaDB and MySQL. */
  driver: z.literal('mysql'),
  ...common,
  port: port.default(3306),
  database: z.string().min(1).max(64).optional(),
  /** Host part of the account ('user'@'host') a privileged change alters. */
  accountHost: z.string().min(1).max(255).default('%'),
});

/** A database service account's server: `driver` decides the protocol. */
export const ServiceConnectionSchema = z.discriminatedUnion('driver', [
  PostgresConnectionSchema,
  MysqlConnectionSchema,
]);
export type ServiceConnection = z.infer<typeof ServiceConnectionSchema>;
export type PostgresConnection = z.infer<typeof PostgresConnectionSchema>;
export type MysqlConnection = z.infer<typeof MysqlConnectionSchema>;

export const serviceSpec: TargetKindSpec<typeof ServiceConnectionSchema> = {
  kind: 'service',
  connectionSchema: ServiceConnectionSchema,
  host: (c) => `${c.host}:${c.port}`,
  endpoint: (c) => `${c.driver}://${c.host.toLowerCase()}:${c.port}`,
  routing: (c) => ({
    driver: c.driver,
    host: c.host.toLowerCase(),
    port: c.port,
    tls: c.tls,
    changeVia: c.changeVia,
    privilegedCredentialId: c.privilegedCredentialId ?? null,
  }),
  // Only a privileged change needs the admin account; a `self` target never receives it.
  ...changeViaParts<ServiceConnection>(),
  // A NUL cannot be part of a PostgreSQL string literal, and ends a C string in MySQL clients.
  passwordConstraints: () => ({ forbidden: '\u0000' }),
};
