import type { Job } from 'bullmq';
import { OPERATOR_VERIFY_PRIORITY, type JobData } from '../../shared/contracts/jobs.js';

/**
 * Work an operator waits for (a Sync now, a login trial: OPERATOR_VERIFY_PRIORITY). A report's own
 * claim takes it like any job when it is next in the queue, as a report of a busy agent often does
 * during a full run.
 */
export const isOperatorWork = (job: Job<JobData>): boolean => job.opts.priority === OPERATOR_VERIFY_PRIORITY;

/** The jobs handed to one priority-lane claim, and how it is woken. */
export class LaneBox {
  private jobs: Job<JobData>[] = [];
  private arrived: AbortController | undefined;
  /** True while the claim looks or waits for work (until it hands jobs out): reports hand it operator work then. */
  looking = true;

  get size(): number {
    return this.jobs.length;
  }

  /**
   * Waits until a job is handed to the box or `wait` ends (its time, a wake-up, the request's end);
   * `wait` gets a signal aborted when a job arrives.
   */
  async wait(wait: (arrived: AbortSignal) => Promise<void>): Promise<void> {
    if (this.jobs.length > 0) return;
    const arrived = new AbortController();
    this.arrived = arrived;
    try {
      await wait(arrived.signal);
    } finally {
      this.arrived = undefined;
    }
  }

  /** Takes up to `max` of the jobs handed to the box so far, oldest first. */
  drain(max = Infinity): Job<JobData>[] {
    return this.jobs.splice(0, max);
  }

  put(job: Job<JobData>): void {
    this.jobs.push(job);
    this.arrived?.abort();
  }
}

/**
 * The priority-lane claims (`priorityOnly`) waiting on this coordinator, by agent. During a full run
 * the reports of a busy agent take jobs in their own Lua calls (moveToCompleted's fetchNext) many
 * times a second, so an operator's Sync now is usually taken by one of them rather than by the lane
 * that waits for it, and would reach the agent only with that report's answer, once its batch of
 * results is applied (tens of milliseconds under load). A report that took operator work for an
 * agent whose lane waits here hands it to the lane instead, which answers at once; otherwise (no
 * lane, or the lane waits on another replica) the job stays in the report's answer.
 */
export class LaneHandoff {
  private readonly boxes = new Map<string, LaneBox>();

  /** A priority claim of the agent starts: its box, until close(). The newest claim of an agent wins. */
  open(agentId: string): LaneBox {
    const box = new LaneBox();
    this.boxes.set(agentId, box);
    return box;
  }

  /** The claim ends: jobs handed to it since its last drain (the caller gives them back to the queue). */
  close(agentId: string, box: LaneBox): Job<JobData>[] {
    if (this.boxes.get(agentId) === box) this.boxes.delete(agentId);
    return box.drain();
  }

  /**
   * Hands `job` to the agent's lane claim looking for work here; false when there is none, or
   * (`operatorOnly`) when the job is not the operator's work.
   */
  offer(agentId: string, job: Job<JobData>, operatorOnly = false): boolean {
    const box = this.boxes.get(agentId);
    if (!box?.looking || (operatorOnly && !isOperatorWork(job))) return false;
    box.put(job);
    return true;
  }

  /** The jobs of `jobs` the agent's lane did not take (operator work goes to it while it looks for work). */
  divert(agentId: string, jobs: Job<JobData>[]): Job<JobData>[] {
    if (!this.boxes.has(agentId)) return jobs;
    return jobs.filter((job) => !this.offer(agentId, job, true));
  }
}
