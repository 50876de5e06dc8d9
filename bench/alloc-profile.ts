/**
 * Preload that records where a process allocates, for `--import` (bench/README.md): V8's sampling
 * heap profiler, keeping the samples of objects the collector freed since (unlike `--heap-prof`, which
 * keeps only what is still alive at exit, so short-lived garbage, the hot path's real cost, is missing).
 * At exit it writes `alloc-<pid>.heapprofile` into ALLOC_PROFILE_DIR (default: the working directory),
 * which Chrome DevTools' Memory tab opens. A measuring tool: never loaded by the product.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', {
  samplingInterval: 32_768,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});

process.once('exit', () => {
  // The in-process session answers synchronously, so the file is written before the process ends.
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err) {
      process.stderr.write(`alloc-profile: ${err.message}\n`);
      return;
    }
    const file = join(process.env.ALLOC_PROFILE_DIR ?? process.cwd(), `alloc-${process.pid}.heapprofile`);
    writeFileSync(file, JSON.stringify(result.profile));
  });
});
