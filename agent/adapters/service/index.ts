import type { ServiceConnection } from '../../../shared/targets/service.js';
import type { Adapter, AdapterContext } from '../types.js';
import { changeMysql, verifyMysql } from './mysql.js';
import { changePostgres, verifyPostgres } from './postgres.js';

type Ctx<D extends ServiceConnection['driver']> = AdapterContext<Extract<ServiceConnection, { driver: D }>>;

const isPostgres = (ctx: AdapterContext<ServiceConnection>): ctx is Ctx<'postgres'> =>
  ctx.connection.driver === 'postgres';

/**
 * The `service` adapter: database service accounts on PostgreSQL (pg) and MariaDB / MySQL (mysql2).
 * verify = log in as the account and run SELECT 1; change = ALTER ROLE / SET PASSWORD / ALTER USER,
 * as the account itself or through the target's privileged account. Never logs a password; server
 * messages are scrubbed of them before they are returned.
 */
export const serviceAdapter: Adapter<ServiceConnection> = {
  kind: 'service',
  verify: (ctx, password) =>
    isPostgres(ctx) ? verifyPostgres(ctx, password) : verifyMysql(ctx as Ctx<'mysql'>, password),
  change: (ctx, current, next) =>
    isPostgres(ctx) ? changePostgres(ctx, current, next) : changeMysql(ctx as Ctx<'mysql'>, current, next),
};
