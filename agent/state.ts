import { chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SyncError } from '../shared/errors.js';
import { writeFileAtomic } from './atomic-file.js';

/** The agent's own credential, received once at enrollment. */
export const IdentitySchema = z.object({
  agentId: z.uuid(),
  siteId: z.uuid(),
  agentToken: z.string().min(1),
});
export type Identity = z.infer<typeof IdentitySchema>;

export const identityPath = (stateDir: string): string => path.join(stateDir, 'identity.json');

/** Creates the state folder, readable by the agent's user only (0700). */
export async function ensureStateDir(stateDir: string): Promise<void> {
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await chmod(stateDir, 0o700);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new SyncError('CONFIG_INVALID', `AGENT_STATE_DIR: cannot create or use ${stateDir} (${code})`);
  }
}

/** The stored identity, or null before the first enrollment. */
export async function readIdentity(stateDir: string): Promise<Identity | null> {
  const file = identityPath(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = IdentitySchema.safeParse(json);
  if (!parsed.success) {
    throw new SyncError(
      'CONFIG_INVALID',
      `AGENT_STATE_DIR: ${file} is not a valid agent identity; remove it and start with a new ENROLLMENT_TOKEN`,
    );
  }
  return parsed.data;
}

/** Saves the identity atomically, mode 0600. */
export async function writeIdentity(stateDir: string, identity: Identity): Promise<void> {
  await ensureStateDir(stateDir);
  await writeFileAtomic(identityPath(stateDir), `${JSON.stringify(identity, null, 2)}\n`, 0o600);
}
