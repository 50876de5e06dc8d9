/**
 * The Node.js options the agent process is started with, by every launcher this repository ships:
 * the systemd unit (packaging/deb/sync-agent.service), the package's `sync-agent` command
 * (packaging/deb/sync-agent.sh), the image's `sync-agent` wrapper (Dockerfile), and the bench, tests
 * and demo (tests/support/processes.ts startAgent). tests/unit/agent-launchers.test.ts keeps them in
 * step with this list.
 *
 * `--max-semi-space-size=2`: a young generation of two 2 MB semi-spaces instead of V8's 16 MB. The
 * agent allocates fast (each job's claim, run and report) but keeps little (about 16 MB live): with
 * the default, 32 MB of new space stay committed and what a job in flight still holds at a scavenge
 * is promoted and piles up in the old space until the next mark-compact. With 2 MB the agents' peak
 * RSS in the bench is about 15 MB lower for about 3 % of a core more (docs/benchmarks.md, "Agent
 * memory"; 1 MB promotes more and ends higher). It cannot be set from inside the process: V8 sizes
 * its heap when the process starts.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
