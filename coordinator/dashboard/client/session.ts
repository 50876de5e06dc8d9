import { api, getToken } from './api.js';

export type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** The signed-in token's role (GET /whoami), read once per token: actions it cannot take are not shown. */
const session: { token: string | null; role: Role } = { token: null, role: 'viewer' };

export async function loadRole(): Promise<void> {
  const token = getToken();
  if (token === session.token) return;
  const me = await api.get<{ role: Role }>('/whoami');
  session.token = token;
  session.role = me.role;
}

/** Whether the signed-in token may take an action needing `role`. */
export const can = (role: Role): boolean => RANK[session.role] >= RANK[role];
