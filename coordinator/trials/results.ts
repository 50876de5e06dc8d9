import type { ReportItem } from '../../shared/contracts/gateway.js';
import { guardMessage, WITHHELD_MESSAGE } from '../../shared/message-guard.js';
import type { Ctx } from '../context.js';
import { loadCredentials } from '../credentials/store.js';
import type { AgentRow } from '../store/agents.js';
import { finishTrial, loadTrials } from './store.js';

/** A login trial's result taken from the agent's site queue (gateway/report.ts). */
export interface TrialResult {
  item: ReportItem;
  trialId: string;
  credentialId: string;
}

/**
 * Stores login trials' results on the trials only: the credential's status, history, run counters
 * and schedule stay as they were. The agent's message is kept as the trial's detail, scrubbed of the
 * password handed out (as gateway/apply-results.ts does for credentials). Returns the job ids whose
 * trial is of another site than the agent's (refused, not applied).
 */
export async function applyTrialResults(
  ctx: Ctx,
  agent: AgentRow,
  results: TrialResult[],
): Promise<Set<string>> {
  const foreign = new Set<string>();
  if (results.length === 0) return foreign;
  const now = new Date();
  const trials = await loadTrials(
    ctx.db,
    results.map((r) => r.trialId),
  );
  const rows = new Map(
    (
      await loadCredentials(
        ctx.db,
        results.map((r) => r.credentialId),
        false,
      )
    ).map((r) => [r.id, r]),
  );
  for (const r of results) {
    const trial = trials.get(r.trialId);
    if (!trial) continue; // deleted meanwhile
    if (trial.site_id !== agent.site_id || trial.credential_id !== r.credentialId) {
      foreign.add(r.item.jobId);
      continue;
    }
    const result = r.item.result;
    let detail: string | null = null;
    if (result.message !== undefined) {
      const row = rows.get(r.credentialId);
      let secret: string | undefined;
      try {
        secret = row ? ctx.box.open(row.secret, row.id, 'secret') : undefined;
      } catch {
        secret = undefined;
      }
      detail =
        row && secret !== undefined ? (guardMessage(result.message, [secret]) ?? null) : WITHHELD_MESSAGE;
    }
    await finishTrial(
      ctx.db,
      trial.id,
      {
        state: 'done',
        outcome: result.outcome,
        reason: result.outcome === 'failed' ? result.reason : null,
        detail,
      },
      now,
    );
    ctx.log.info(
      { agentId: agent.id, trialId: trial.id, outcome: result.outcome, durationMs: r.item.durationMs },
      'login trial finished',
    );
  }
  return foreign;
}
