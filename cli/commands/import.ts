import { table } from '../format.js';
import { parseBatchSize } from '../import-batch.js';
import { importCredentials } from '../import.js';
import { need, str, type Command } from './command.js';

export const importCommands: Command[] = [
  {
    name: 'import',
    arguments: 'FILE.csv',
    options: '[--state FILE] [--batch-size N]',
    summary:
      'bulk create credentials: columns target,username,password[,policy] (target/policy by id or name), ' +
      'N rows to a request (default 1000, at most 10000); ' +
      'bad rows are reported with their line and skipped; done rows go to FILE.csv.import-state, so a ' +
      'rerun resumes; exits 3 when a row was rejected',
    async handler({ api, args: [file], flags, out }) {
      const stateFile = str(flags.state);
      if (stateFile === '')
        throw new Error('--state: a file name, or leave it out for FILE.csv.import-state');
      const report = await importCredentials(api, need(file, 'FILE.csv'), {
        progress: !flags.json,
        ...(stateFile ? { stateFile } : {}),
        batchSize: parseBatchSize(str(flags['batch-size'])),
      });
      out(report, () =>
        [
          `${report.file}: ${report.rows} row${report.rows === 1 ? '' : 's'}; imported ${report.imported}, already done ${report.skipped}${report.existing ? ` (${report.existing} found on the coordinator)` : ''}, rejected ${report.rejected.length}`,
          report.rejected.length
            ? `rejected rows (fix them and run the same command again):\n${table(
                report.rejected.map((r) => ({ line: r.line, reason: r.reason })),
                ['line', 'reason'],
              )}`
            : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
      return report.rejected.length ? 3 : 0;
    },
  },
];
