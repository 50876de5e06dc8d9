import { describe, expect, it } from 'vitest';
import {
  DETAIL_CODES as DASHBOARD_CODES,
  DETAIL_EXPLAINED,
  KIND_LABELS,
} from '../../coordinator/dashboard/client/model.js';
import { CredentialView } from '../../shared/contracts/api.js';
import { JobOutcomeSchema } from '../../shared/contracts/gateway.js';
import { DETAIL_CODES } from '../../shared/contracts/status.js';
import { TARGET_KINDS } from '../../shared/targets/index.js';

describe('detail codes', () => {
  it('the dashboard knows every code the contracts define, each explained in plain words', () => {
    expect([...DASHBOARD_CODES]).toEqual([...DETAIL_CODES]);
    for (const code of DETAIL_CODES) expect(DETAIL_EXPLAINED[code].length).toBeGreaterThan(40);
  });

  it('the dashboard names every target kind in words', () => {
    for (const kind of TARGET_KINDS) expect(KIND_LABELS[kind], kind).toBeTruthy();
  });

  it('a failed outcome may carry one; an ok outcome may not; unknown codes are refused', () => {
    expect(
      JobOutcomeSchema.safeParse({ outcome: 'failed', reason: 'error', detailCode: 'host_key_changed' })
        .success,
    ).toBe(true);
    expect(JobOutcomeSchema.safeParse({ outcome: 'ok', detailCode: 'host_key_changed' }).success).toBe(false);
    expect(
      JobOutcomeSchema.safeParse({ outcome: 'failed', reason: 'error', detailCode: 'nope' }).success,
    ).toBe(false);
    expect(CredentialView.shape.lastErrorCode.safeParse(null).success).toBe(true);
  });
});
