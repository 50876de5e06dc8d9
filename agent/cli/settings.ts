import { access } from 'node:fs/promises';
import { SyncError } from '../../shared/errors.js';
import { parseEnvFile, readEnvText } from '../env-file.js';

/** Where the settings come from: the environment, and the configuration file when there is one. */
export interface Settings {
  /** The configuration file: --config, else $SYNC_AGENT_CONFIG; undefined = environment only. */
  file: string | undefined;
  /** What the file sets (empty without one, or while it does not exist). */
  fileValues: Record<string, string>;
  /** The environment with the file's values on top: what the agent runs with. */
  env: NodeJS.ProcessEnv;
}

export const configFileOf = (option: string | undefined, env: NodeJS.ProcessEnv): string | undefined =>
  option ?? (env.SYNC_AGENT_CONFIG?.trim() || undefined);

/**
 * Reads the settings. A file that does not exist is an error when `mustExist` (running the agent
 * with a file it cannot find would silently run with other settings), else it reads as empty.
 */
export async function loadSettings(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  { mustExist = true } = {},
): Promise<Settings> {
  const file = configFileOf(option, env);
  if (file === undefined) return { file, fileValues: {}, env: { ...env } };
  if (mustExist) {
    try {
      await access(file);
    } catch (err) {
      throw new SyncError(
        'CONFIG_INVALID',
        `configuration file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot read it'}`,
      );
    }
  }
  const fileValues = parseEnvFile(await readEnvText(file), file);
  return { file, fileValues, env: { ...env, ...fileValues } };
}
