import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CreateTargetBody } from '../../shared/contracts/api.js';
import { capabilitiesOf, targetSpec } from '../../shared/targets/index.js';
import { loginSiteConnection } from '../support/login-site.js';
import { REPO_ROOT } from '../support/paths.js';

/**
 * The connection examples of README.md (and of docs/adapters/*.md) are parsed with the schemas the
 * API uses, so the documentation cannot drift from the code.
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

const readmeTargets = jsonBlocks('README.md').filter((b) => isTarget(b.value));
const docsTargets = ['workstation', 'service', 'web', 'directory', 'windows']
  .flatMap((k) => jsonBlocks(`docs/adapters/${k}.md`))
  .filter((b) => isTarget(b.value));

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

describe('README connection examples', () => {
  it('every one is a valid POST /targets body whose connection parses with its kind', () => {
    expect(readmeTargets.length).toBeGreaterThanOrEqual(5);
    for (const b of readmeTargets) {
      const body = CreateTargetBody.safeParse(b.value);
      expect(body.error?.issues, `${b.file}:${b.line}`).toBeUndefined();
      parsed(b);
    }
  });

  it('there is one for each kind and driver', () => {
    const kinds = readmeTargets.map((b) => {
      const t = b.value as TargetExample;
      return t.kind === 'service' ? `service/${String(t.connection.driver)}` : t.kind;
    });
    expect(new Set(kinds)).toEqual(
      new Set(['workstation', 'service/postgres', 'service/mysql', 'web', 'simulated']),
    );
  });

  it('the web example is complete (login, verify and a configured change) and is the workflow the tests run against the real login site', () => {
    const web = readmeTargets.find((b) => (b.value as TargetExample).kind === 'web')!;
    const connection = parsed(web);
    expect(capabilitiesOf('web', connection)).toEqual({ verify: true, change: true, changeConfigured: true });
    const tested = targetSpec('web').connectionSchema.parse(
      loginSiteConnection('http://127.0.0.1:1'),
    ) as Record<string, unknown>;
    for (const key of ['login', 'verify', 'change', 'timeoutMs'] as const) {
      expect(connection[key], key).toEqual(tested[key]);
    }
  });
});

describe('docs/adapters examples', () => {
  it('every connection parses with its kind', () => {
    expect(docsTargets.length).toBeGreaterThanOrEqual(3);
    for (const b of docsTargets) parsed(b);
  });

  it('each adapter document has a POST /targets body for its kind that the API takes', () => {
    for (const kind of ['directory', 'windows']) {
      const bodies = docsTargets.filter((b) => (b.value as TargetExample).kind === kind);
      expect(bodies.length, kind).toBeGreaterThanOrEqual(1);
      for (const b of bodies) {
        expect(CreateTargetBody.safeParse(b.value).error?.issues, `${b.file}:${b.line}`).toBeUndefined();
      }
    }
    const flavours = docsTargets
      .map((b) => b.value as TargetExample)
      .filter((t) => t.kind === 'directory')
      .map((t) => t.connection.flavour);
    expect(new Set(flavours)).toEqual(new Set(['active_directory', 'ldap']));
  });
});
