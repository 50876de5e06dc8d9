import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CreateTargetBody } from '../../shared/contracts/api.js';
import {
  DEPENDENCY_KINDS,
  DependencyDefinitionSchema,
  SetDependenciesBody,
} from '../../shared/contracts/dependencies.js';
import { capabilitiesOf, targetSpec } from '../../shared/targets/index.js';
import { loginSiteConnection } from '../support/login-site.js';
import { REPO_ROOT } from '../support/paths.js';

/**
 * The connection examples of docs/adapters/*.md are parsed with the schemas the API uses, so the
 * documentation cannot drift from the code.
 */
interface Block {
  file: string;
  line: number;
  value: unknown;
}

function jsonBlocks(file: string): Block[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const blocks: Block[] = [];
  const re = /```json\n([\s\S]*?)\n```/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const line = text.slice(0, m.index).split('\n').length;
    let value: unknown;
    try {
      value = JSON.parse(m[1]!);
    } catch (err) {
      throw new Error(`${file}:${line}: a json block that does not parse: ${(err as Error).message}`);
    }
    blocks.push({ file, line, value });
  }
  return blocks;
}

type TargetExample = { siteId: string; name: string; kind: string; connection: Record<string, unknown> };
const isTarget = (v: unknown): v is TargetExample =>
  typeof v === 'object' && v !== null && 'kind' in v && 'connection' in v;

const ADAPTER_DOCS = readdirSync(join(REPO_ROOT, 'docs/adapters'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/adapters/${f}`);
const targets = ADAPTER_DOCS.flatMap((f) => jsonBlocks(f)).filter((b) => isTarget(b.value));

const parsed = (b: Block) => {
  const t = b.value as TargetExample;
  const result = targetSpec(t.kind).connectionSchema.safeParse(t.connection);
  if (!result.success) {
    throw new Error(
      `${b.file}:${b.line}: ${t.kind} connection does not parse: ${result.error.issues
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  }
  return result.data as Record<string, unknown>;
};

describe('docs/adapters examples', () => {
  it('every one is a valid POST /targets body whose connection parses with its kind', () => {
    expect(targets.length).toBeGreaterThanOrEqual(8);
    for (const b of targets) {
      const body = CreateTargetBody.safeParse(b.value);
      expect(body.error?.issues, `${b.file}:${b.line}`).toBeUndefined();
      parsed(b);
    }
  });

  it('there is one for each kind, driver and flavour', () => {
    const kinds = targets.map((b) => {
      const t = b.value as TargetExample;
      if (t.kind === 'service') return `service/${String(t.connection.driver)}`;
      if (t.kind === 'directory') return `directory/${String(t.connection.flavour)}`;
      return t.kind;
    });
    expect(new Set(kinds)).toEqual(
      new Set([
        'workstation',
        'service/postgres',
        'service/mysql',
        'web',
        'directory/active_directory',
        'directory/ldap',
        'windows',
        'simulated',
      ]),
    );
  });

  it('the web example is complete (login, verify and a configured change) and is the workflow the tests run against the real login site', () => {
    const web = targets.find((b) => (b.value as TargetExample).kind === 'web')!;
    const connection = parsed(web);
    expect(capabilitiesOf('web', connection)).toEqual({ verify: true, change: true, changeConfigured: true });
    const tested = targetSpec('web').connectionSchema.parse(
      loginSiteConnection('http://127.0.0.1:1'),
    ) as Record<string, unknown>;
    for (const key of ['login', 'verify', 'change', 'timeoutMs'] as const) {
      expect(connection[key], key).toEqual(tested[key]);
    }
  });

  it('every dependency example is a valid POST /credentials/{id}/dependencies body; each kind has one', () => {
    const blocks = jsonBlocks('docs/adapters/dependencies.md');
    const kinds = new Set<string>();
    for (const b of blocks) {
      const body = SetDependenciesBody.parse(b.value);
      for (const d of body.dependencies) {
        const parsed = DependencyDefinitionSchema.safeParse(d);
        expect(parsed.error?.issues, `docs/adapters/dependencies.md:${b.line}`).toBeUndefined();
        kinds.add(parsed.data!.kind);
      }
    }
    expect(kinds).toEqual(new Set(DEPENDENCY_KINDS));
  });
});
