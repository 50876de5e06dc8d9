/** One thing `sync-agent doctor` checked. `fail` = the agent will not work until it is fixed. */
export interface Finding {
  check: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  /** What to do, for a person at the machine: commands or the setting to change. */
  fix?: string;
}

export const ok = (check: string, detail: string): Finding => ({ check, status: 'ok', detail });
export const warn = (check: string, detail: string, fix?: string): Finding => ({
  check,
  status: 'warn',
  detail,
  ...(fix === undefined ? {} : { fix }),
});
export const problem = (check: string, detail: string, fix: string): Finding => ({
  check,
  status: 'fail',
  detail,
  fix,
});
export const skipped = (check: string, detail: string): Finding => ({ check, status: 'skip', detail });

const LABEL: Record<Finding['status'], string> = { ok: 'ok', warn: 'warn', fail: 'FAIL', skip: 'skip' };

/** The findings as aligned lines, each fix under its finding, and a closing verdict. */
export function renderFindings(findings: readonly Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${LABEL[f.status].padEnd(5)} ${f.check.padEnd(width)}  ${f.detail}`);
    if (f.fix) lines.push(`${' '.repeat(6 + width + 2)}fix: ${f.fix}`);
  }
  const problems = findings.filter((f) => f.status === 'fail').length;
  const warnings = findings.filter((f) => f.status === 'warn').length;
  lines.push('');
  lines.push(
    problems > 0
      ? `${problems} problem${problems > 1 ? 's' : ''} found: the agent will not work until ${problems > 1 ? 'they are' : 'it is'} fixed.`
      : warnings > 0
        ? `No problem found; ${warnings} warning${warnings > 1 ? 's' : ''} worth a look.`
        : 'No problem found.',
  );
  return lines.join('\n');
}
