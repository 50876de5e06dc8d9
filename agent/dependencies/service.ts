import type { ServiceDependency } from '../../shared/contracts/dependencies.js';
import type { Logger } from '../../shared/logger.js';
import {
  ServiceConnectionSchema,
  type MysqlConnection,
  type PostgresConnection,
} from '../../shared/targets/service.js';
import { scrub, textOf } from '../adapters/common.js';
import { withSession as mysqlSession } from '../adapters/service/mysql.js';
import { withSession as postgresSession } from '../adapters/service/postgres.js';
import type { Attempt } from '../adapters/types.js';
import type { DependencyLogin, Step } from './types.js';

/*
 * The `service` dependency (docs/adapters/dependencies.md): one statement run by the login account
 * on its database, the password its only bound parameter (never in the statement's text). Sessions
 * are the service adapter's own (TLS, timeouts, login failures mapped the same way).
 */

/** Reachable: the login account connects (and `SELECT 1` answers); or, with `password`, the statement runs. */
export async function runService(
  d: ServiceDependency,
  l: DependencyLogin,
  password: string | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<Step> {
  const connection = ServiceConnectionSchema.parse(l.target.connection);
  const secrets = [l.password, ...(password === undefined ? [] : [password])];
  const ctx = { username: l.username, host: connection.host, signal, log };
  const statement = password === undefined ? 'SELECT 1' : d.statement;
  const values = password === undefined ? [] : [password];
  let changed = 0;
  const run = async (query: () => Promise<number>): Promise<Attempt> => {
    try {
      changed = await query();
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: 'error', message: scrub(textOf(err), secrets) };
    }
  };
  const attempt =
    connection.driver === 'postgres'
      ? await postgresSession(
          { ...ctx, connection: connection as PostgresConnection },
          l.username,
          l.password,
          secrets,
          (s) => run(async () => (await s.client.query(statement, values)).rowCount ?? 0),
        )
      : await mysqlSession(
          { ...ctx, connection: connection as MysqlConnection },
          l.username,
          l.password,
          secrets,
          (s) =>
            run(async () => {
              const [result] = (await s.query(statement, values)) as [{ affectedRows?: number }];
              return result?.affectedRows ?? 0;
            }),
        );
  if (!attempt.ok)
    return {
      ok: false,
      message: `${connection.driver} as ${l.username}: ${attempt.message ?? attempt.reason}`,
    };
  if (password !== undefined && changed === 0) return { ok: false, message: 'the statement changed no row' };
  return { ok: true, ...(password !== undefined ? { message: `${changed} row(s) changed` } : {}) };
}
