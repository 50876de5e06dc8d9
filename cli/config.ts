import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const FileSchema = z.object({ url: z.string().url().optional(), token: z.string().min(1).optional() });

export interface CliConfig {
  url: string;
  token: string;
}

/**
 * Where syncctl finds the coordinator and its token: flags, then SYNCCTL_URL / SYNCCTL_TOKEN, then
 * the config file (SYNCCTL_CONFIG or ~/.config/syncctl/config.json: {"url": …, "token": …}).
 */
export function loadCliConfig(flags: { url?: string; token?: string }, env = process.env): CliConfig {
  const path = env.SYNCCTL_CONFIG ?? join(homedir(), '.config', 'syncctl', 'config.json');
  let file: z.infer<typeof FileSchema> = {};
  try {
    file = FileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`config file ${path}: not valid (${String(err)})`);
  }
  const url = flags.url ?? env.SYNCCTL_URL ?? file.url ?? 'http://127.0.0.1:8080';
  const token = flags.token ?? env.SYNCCTL_TOKEN ?? file.token;
  if (!token) throw new Error('no API token: set SYNCCTL_TOKEN, pass --token, or put it in the config file');
  return { url, token };
}
