/**
 * The hand-off of operator work from a report to its agent's priority-lane claim
 * (coordinator/gateway/lane-handoff.ts); the whole path with real Redis and PostgreSQL is in
 * tests/integration/report-claim.test.ts.
 */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { JOB_PRIORITY, OPERATOR_VERIFY_PRIORITY, type JobData } from '../../shared/contracts/jobs.js';
import { LaneHandoff } from '../../coordinator/gateway/lane-handoff.js';

const job = (id: string, priority: number) => ({ id, opts: { priority } }) as unknown as Job<JobData>;
const syncNow = (id: string) => job(id, OPERATOR_VERIFY_PRIORITY);
const ids = (jobs: Job<JobData>[]) => jobs.map((j) => j.id);

describe('lane hand-off', () => {
  it("takes only the operator's work, only for an agent whose lane claim looks for work here", () => {
    const lanes = new LaneHandoff();
    expect(lanes.offer('a', syncNow('v-1'), true)).toBe(false); // no lane here
    const box = lanes.open('a');
    expect(lanes.offer('a', job('v-2', JOB_PRIORITY.verify), true)).toBe(false); // routine work
    expect(lanes.offer('a', job('c-3', JOB_PRIORITY.change), true)).toBe(false); // a change: not an operator waiting
    expect(lanes.offer('b', syncNow('v-4'), true)).toBe(false); // another agent's
    expect(lanes.offer('a', syncNow('v-5'), true)).toBe(true);
    box.looking = false; // handing jobs out: takes no more
    expect(lanes.offer('a', syncNow('v-6'), true)).toBe(false);
    box.looking = true;
    const kept = lanes.divert('a', [job('v-7', JOB_PRIORITY.verify), syncNow('v-8')]);
    expect(ids(kept)).toEqual(['v-7']);
    expect(ids(box.drain(1))).toEqual(['v-5']);
    // What the claim did not take before it ended goes back to the caller (then to the queue).
    expect(ids(lanes.close('a', box))).toEqual(['v-8']);
    expect(lanes.offer('a', syncNow('v-9'), true)).toBe(false);
  });

  it("the newest claim of an agent takes the work; an older one's end does not close it", () => {
    const lanes = new LaneHandoff();
    const old = lanes.open('a');
    const current = lanes.open('a');
    expect(lanes.close('a', old)).toEqual([]);
    expect(lanes.offer('a', syncNow('v-1'), true)).toBe(true);
    expect(ids(current.drain())).toEqual(['v-1']);
  });

  it('a waiting claim wakes when a job is handed to it, and does not wait with one in hand', async () => {
    const lanes = new LaneHandoff();
    const box = lanes.open('a');
    let cut: AbortSignal | undefined;
    const waiting = box.wait(
      (arrived) =>
        new Promise<void>((resolve) => {
          cut = arrived;
          arrived.addEventListener('abort', () => resolve());
        }),
    );
    expect(lanes.offer('a', syncNow('v-1'), true)).toBe(true);
    await waiting;
    expect(cut?.aborted).toBe(true);
    let called = false;
    await box.wait(async () => {
      called = true;
    });
    expect(called).toBe(false); // v-1 waits in the box: no waiting
    expect(ids(box.drain())).toEqual(['v-1']);
  });
});
