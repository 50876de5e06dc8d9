/** Small helpers of the benchmark: arguments, progress line, statistics, CPU and memory of processes. */
import { readdir, readFile } from 'node:fs/promises';

export interface BenchArgs {
  credentials: number;
  agents: number;
  concurrency: number;
  runs: number;
  syncNowTries: number;
  /** How credentials are created: through the operator API, or inserted in SQL (sealed the same way). */
  seed: 'api' | 'sql' | 'auto';
  /**
   * SQL-seeded credentials: `due` (verified first, before the measured runs) or `settled` (in_sync
   * already); `auto`: due up to 100,000, settled beyond (a million first verifications take long).
   */
  seedState: 'due' | 'settled' | 'auto';
  /** After the verification runs: one change run of every credential (mass rotation). */
  rotate: boolean;
  /** The full run with Sync now probes (left out by --no-under-load, and above 200,000 credentials). */
  underLoad: boolean;
  /** Credentials created through the bulk API, and again through `syncctl import` (0: not measured). */
  onboard: number;
  /** Only the onboarding rows (e.g. `--onboard 1000000 --onboard-only`). */
  onboardOnly: boolean;
}

const USAGE = `usage: npm run bench -- [--credentials N] [--agents 2] [--concurrency 200] [--runs 3]
                          [--sync-now-tries 50] [--seed api|sql|auto] [--seed-state due|settled|auto]
                          [--rotate] [--no-under-load] [--onboard 20000] [--onboard-only]
env: REDIS_URL (else a local redis-server child), DATABASE_URL (else a fresh database on
     BENCH_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres, dropped at the end)`;

export function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = {
    credentials: 20_000,
    agents: 2,
    concurrency: 200,
    runs: 3,
    syncNowTries: 50,
    seed: 'auto',
    seedState: 'auto',
    rotate: false,
    underLoad: true,
    onboard: 20_000,
    onboardOnly: false,
  };
  const ints: Record<string, keyof BenchArgs> = {
    '--credentials': 'credentials',
    '--agents': 'agents',
    '--concurrency': 'concurrency',
    '--runs': 'runs',
    '--sync-now-tries': 'syncNowTries',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (flag === '--rotate' || flag === '--no-under-load' || flag === '--onboard-only') {
      if (flag === '--rotate') args.rotate = true;
      else if (flag === '--onboard-only') args.onboardOnly = true;
      else args.underLoad = false;
      continue;
    }
    const value = inline ?? argv[++i];
    if (flag === '--seed-state') {
      if (value !== 'due' && value !== 'settled' && value !== 'auto')
        throw new Error(`--seed-state: due, settled or auto\n${USAGE}`);
      args.seedState = value;
      continue;
    }
    if (flag === '--onboard') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--onboard: a count (0: skip)\n${USAGE}`);
      args.onboard = n;
      continue;
    }
    if (flag === '--seed') {
      if (value !== 'api' && value !== 'sql' && value !== 'auto')
        throw new Error(`--seed: api, sql or auto\n${USAGE}`);
      args.seed = value;
      continue;
    }
    const key = ints[flag];
    const n = Number(value);
    if (!key || !Number.isInteger(n) || n < 1) throw new Error(`bad argument ${argv[i]}\n${USAGE}`);
    (args[key] as number) = n;
  }
  return args;
}

/** One updating status line on stderr (a plain line every few seconds when not a terminal). */
export class Progress {
  private last = '';
  private lastAt = 0;
  private readonly tty = process.stderr.isTTY;

  show(text: string): void {
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    } else if (text !== this.last && Date.now() - this.lastAt > 2000) {
      process.stderr.write(`${text}\n`);
      this.lastAt = Date.now();
    }
    this.last = text;
  }

  /** A line that stays. */
  log(text: string): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${text}\n`);
    this.last = '';
    this.lastAt = 0;
  }

  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export const median = (values: number[]): number => quantile(values, 0.5);

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

const CLK_TCK = 100; // Linux USER_HZ

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; 0 when gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Pids of processes whose command name is `comm` (e.g. every `postgres` backend). */
export async function pidsNamed(comm: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const name = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (name.trim() === comm) pids.push(Number(entry));
  }
  return pids;
}

/** Total CPU seconds of processes named `comm` (processes that exit in between are lost). */
export async function cpuSecondsNamed(comm: string): Promise<number> {
  let total = 0;
  for (const pid of await pidsNamed(comm)) total += await cpuSeconds(pid);
  return total;
}

export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';

/** Reads a /proc/<pid>/status field in kB (VmRSS, VmHWM); undefined when not available. */
export async function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
