import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CoordinatorEnvSchema } from '../../coordinator/config.js';
import { REPO_ROOT } from '../support/paths.js';

/**
 * No Docker engine here: the compose file is checked by parsing it and by evaluating its variable
 * interpolation the way Compose does (the subset it uses: `${VAR}`, `${VAR:-default}` with nested
 * variables, `${VAR:?message}`, `$$`), with only the variables docs/configuration.md says are required.
 */
class MissingVariable extends Error {}

function interpolate(text: string, env: Record<string, string>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$$', i)) {
      out += '$';
      i += 2;
    } else if (text.startsWith('${', i)) {
      // The matching brace, nested ${…} included.
      let depth = 0;
      let j = i;
      for (; j < text.length; j++) {
        if (text.startsWith('${', j)) {
          depth++;
          j++;
        } else if (text[j] === '}' && --depth === 0) break;
      }
      if (j >= text.length) throw new Error(`unclosed \${ in ${text}`);
      const inner = text.slice(i + 2, j);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([\s\S]*))?$/.exec(inner);
      if (!m) throw new Error(`unsupported interpolation \${${inner}}`);
      const [, name, op, arg = ''] = m;
      const value = env[name!];
      const unset = op?.startsWith(':') ? !value : value === undefined;
      if (op?.endsWith('?') && unset) throw new MissingVariable(`${name}: ${arg}`);
      out += op?.endsWith('-') && unset ? interpolate(arg, env) : (value ?? '');
      i = j + 1;
    } else if (text[i] === '$' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))!;
      out += env[m[0]] ?? '';
      i += 1 + m[0].length;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

/** Every string in the document interpolated. */
function resolve(node: unknown, env: Record<string, string>): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => resolve(n, env));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v, env)]));
  }
  return node;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { environment?: Record<string, string> }>;
};
const configurationDoc = readFileSync(join(REPO_ROOT, 'docs/configuration.md'), 'utf8');

/** The variables the Docker Compose section of docs/configuration.md names as required. */
function documentedRequired(): string[] {
  const section = /\n## Docker Compose\n([\s\S]*?)(?:\n## |$)/.exec(configurationDoc)?.[1] ?? '';
  const sentence = /Required[^:]*:([^.]*)/.exec(section)?.[1] ?? '';
  return [...sentence.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!).sort();
}

const REQUIRED = {
  COORDINATOR_ADMIN_TOKEN: 'compose-admin-token-0123456789',
  COORDINATOR_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
  POSTGRES_PASSWORD: 'f00dcafe1234',
};

describe('docker-compose.yml', () => {
  it('parses, with the services docs/configuration.md describes', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['agent', 'coordinator', 'postgres', 'redis']);
  });

  it('docs/configuration.md names exactly the variables the file requires', () => {
    const required = new Set<string>();
    const text = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    for (const m of text.matchAll(/\$\{([A-Z_]+):?\?/g)) required.add(m[1]!);
    expect([...required].sort()).toEqual(documentedRequired());
    expect(documentedRequired()).toEqual(Object.keys(REQUIRED).sort());
  });

  it("with only the documented variables, every service's environment resolves", () => {
    const resolved = resolve(compose, REQUIRED) as typeof compose;
    const env = resolved.services.coordinator!.environment!;
    expect(env.DATABASE_URL).toBe('postgres://sync:f00dcafe1234@postgres:5432/sync');
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    // What the coordinator gets passes its own configuration check.
    expect(CoordinatorEnvSchema.safeParse(env).error).toBeUndefined();
    expect(resolved.services.postgres!.environment!.POSTGRES_PASSWORD).toBe('f00dcafe1234');
  });

  it('leaving out any required variable stops compose with its name', () => {
    for (const name of Object.keys(REQUIRED)) {
      const env: Record<string, string> = { ...REQUIRED };
      delete env[name];
      expect(() => resolve(compose, env)).toThrow(new RegExp(`^${name}:`));
    }
  });

  it('DATABASE_URL and REDIS_URL given win over the defaults', () => {
    const resolved = resolve(compose, {
      ...REQUIRED,
      DATABASE_URL: 'postgres://u:p@db.example:5432/x',
      REDIS_URL: 'redis://cache.example:6380',
    }) as typeof compose;
    expect(resolved.services.coordinator!.environment).toMatchObject({
      DATABASE_URL: 'postgres://u:p@db.example:5432/x',
      REDIS_URL: 'redis://cache.example:6380',
    });
  });
});
