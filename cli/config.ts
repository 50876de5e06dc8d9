import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { queryInt } from '../shared/contracts/api.js';

/** SYNCCTL_TIMEOUT_MS and the file's timeoutMs: 1 s to an hour. */
const [MIN_TIMEOUT_MS, MAX_TIMEOUT_MS] = [1000, 3_600_000];

const FileSchema = z.object({
  url: z.string().url().optional(),
  token: z.string().min(1).optional(),
  timeoutMs: z.number().int().min(MIN_TIMEOUT_MS).max(MAX_TIMEOUT_MS).optional(),
});

/** How long syncctl waits for the coordinator's answer to begin, and between two parts of it. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface CliConfig {
  url: string;
  token: string;
  timeoutMs: number;
}

/**
 * Where syncctl finds the coordinator and its token: flags, then SYNCCTL_URL / SYNCCTL_TOKEN
 * (and SYNCCTL_TIMEOUT_MS), then the config file (SYNCCTL_CONFIG or ~/.config/syncctl/config.json:
 * {"url": …, "token": …, "timeoutMs": …}), read only when the flags and the environment do not give
 * both the URL and the token. A message about the file never quotes it (it holds the token).
 */
export function loadCliConfig(flags: { url?: string; token?: string }, env = process.env): CliConfig {
  const url = flags.url ?? env.SYNCCTL_URL;
  if (url !== undefined && !(/^https?:\/\/[^/]/i.test(url) && URL.canParse(url))) {
    throw new Error(
      `${flags.url !== undefined ? '--url' : 'SYNCCTL_URL'}: not an http(s) URL of the coordinator (e.g. https://sync.example.com)`,
    );
  }
  const token = flags.token ?? env.SYNCCTL_TOKEN;
  let timeoutMs: number | undefined;
  if (env.SYNCCTL_TIMEOUT_MS !== undefined) {
    const parsed = queryInt(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS).safeParse(env.SYNCCTL_TIMEOUT_MS);
    if (!parsed.success) {
      throw new Error(
        `SYNCCTL_TIMEOUT_MS: ${parsed.error.issues[0]?.message ?? 'invalid'} (milliseconds, ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS})`,
      );
    }
    timeoutMs = parsed.data;
  }
  const file = url === undefined || token === undefined ? readConfigFile(env) : {};
  const found = token ?? file.token;
  if (!found) throw new Error('no API token: set SYNCCTL_TOKEN, pass --token, or put it in the config file');
  return {
    url: url ?? file.url ?? 'http://127.0.0.1:8080',
    token: found,
    timeoutMs: timeoutMs ?? file.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
}

function readConfigFile(env: NodeJS.ProcessEnv): z.infer<typeof FileSchema> {
  const path = env.SYNCCTL_CONFIG ?? join(homedir(), '.config', 'syncctl', 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(
      `config file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error: the token, maybe.
    throw new Error(`config file ${path}: not valid JSON`);
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`config file ${path}: ${issue.path.join('.') || 'the file'}: ${issue.message}`);
  }
  return parsed.data;
}
