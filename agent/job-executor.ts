import type { ClaimedJob, ReportItem } from '../shared/contracts/gateway.js';
import { lazyChild, type Logger } from '../shared/logger.js';
import type { HostLimits } from './host-limits.js';
import type { InFlight } from './in-flight.js';
import { lockFence, type LockFenceDeps } from './lock-fence.js';
import type { JobRunner } from './runner.js';

/**
 * Takes a claimed job from claim to report: registers it in flight, runs it under its host's
 * limiter, hands the result to the reporter, then frees the slot (in that order, so a graceful
 * stop that waits for the slots also waits for the results to be queued).
 */
export class JobExecutor {
  constructor(
    private readonly deps: {
      inFlight: InFlight;
      hostLimits: HostLimits;
      runner: JobRunner;
      /** `urgent`: the job's ClaimedJob.urgent (an operator's Sync now), reported at once. */
      report: (item: ReportItem, urgent: boolean) => void;
      /** The last job in flight finished: no result will join the ones waiting to be sent. */
      idle?: () => void;
      fence: LockFenceDeps;
      log: Logger;
    },
  ) {}

  /** `claimSentAt`: when the claim that handed the job out was sent (performance.now()). */
  execute(job: ClaimedJob, claimSentAt?: number): void {
    const { inFlight, hostLimits, runner, report, idle, fence, log } = this.deps;
    const held = inFlight.add(job, claimSentAt);
    const jobLog = lazyChild(log, { jobId: job.jobId, credentialId: job.credentialId });
    const debug = log.isLevelEnabled('debug');
    if (debug)
      jobLog.debug({ kind: job.kind, attempt: job.attempt, kindOfTarget: job.target.kind }, 'job claimed');
    void hostLimits
      .run(job.target.host, async () => {
        if (held.dropped) return;
        const started = performance.now();
        const result = await runner.run(job, held.controller.signal, lockFence(held, fence));
        const durationMs = Math.min(86_400_000, Math.round(performance.now() - started));
        if (held.dropped) {
          jobLog.info({ kind: job.kind }, 'job result dropped: job released or its lock lost');
          return;
        }
        if (result.outcome !== 'ok')
          jobLog.info({ kind: job.kind, reason: result.reason, durationMs }, 'job failed');
        else if (debug) jobLog.debug({ kind: job.kind, works: result.works, durationMs }, 'job done');
        report({ jobId: job.jobId, token: job.token, result, durationMs }, job.urgent === true);
      })
      .catch((err: unknown) => jobLog.error({ errName: (err as Error)?.name }, 'job execution failed'))
      .finally(() => {
        inFlight.finish(held);
        if (inFlight.size === 0) idle?.();
      });
  }
}
