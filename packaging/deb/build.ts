/**
 * Builds the sync-agent Debian package from the built repository (run by packaging/deb/build.sh
 * after `npm run build`): the agent (dist/agent, dist/shared), the npm packages it needs at run time
 * copied from node_modules (nothing is downloaded), the systemd unit, the configuration file and
 * the maintainer scripts; then `dpkg-deb --build`. Usage:
 *   node dist/packaging/deb/build.js [--version X.Y.Z] [--out DIR] [--compress xz|gzip|zstd|none]
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { SemverSchema } from '../../shared/agent-versions.js';
import { importedPackages, runtimeClosure, shipsFile } from './runtime-deps.js';

/** Where the package puts things. */
export const LAYOUT = {
  lib: 'usr/lib/sync-agent',
  bin: 'usr/bin/sync-agent',
  unit: 'usr/lib/systemd/system/sync-agent.service',
  config: 'etc/sync-agent/agent.env',
  doc: 'usr/share/doc/sync-agent',
} as const;

const Options = z.object({
  version: SemverSchema.optional(),
  out: z.string().min(1).optional(),
  compress: z.enum(['xz', 'gzip', 'zstd', 'none']).default('xz'),
});

/** The repository: two levels above dist/packaging/deb (and above packaging/deb in the sources). */
function repoRoot(): string {
  for (let dir = import.meta.dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'password-sync') return dir;
    } catch {
      // not here
    }
  }
  throw new Error('cannot find the repository (package.json of password-sync)');
}

/** A semantic version as Debian orders it: a prerelease (`-rc.1`) sorts before its release with `~`. */
export const debianVersion = (semver: string): string => semver.replace(/\+.*$/, '').replaceAll('-', '~');

function copyTree(from: string, to: string, keep: (rel: string) => boolean): number {
  let files = 0;
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(from, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if ((entry.isFile() || entry.isSymbolicLink()) && keep(child)) {
        mkdirSync(path.join(to, rel), { recursive: true });
        cpSync(path.join(from, child), path.join(to, child), { dereference: true });
        files++;
      }
    }
  };
  walk('');
  return files;
}

function installedSizeKb(dir: string): number {
  let bytes = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else bytes += Math.ceil(statSync(full).size / 1024) * 1024;
    }
  };
  walk(dir);
  return Math.ceil(bytes / 1024);
}

function install(from: string, to: string, mode: number): void {
  mkdirSync(path.dirname(to), { recursive: true });
  cpSync(from, to);
  chmodSync(to, mode);
}

export function buildPackage(argv: string[]): string {
  const { values } = parseArgs({
    args: argv,
    options: { version: { type: 'string' }, out: { type: 'string' }, compress: { type: 'string' } },
    strict: true,
  });
  const options = Options.parse(values);
  const root = repoRoot();
  const dist = path.join(root, 'dist');
  const here = path.join(root, 'packaging', 'deb');
  const repoPkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    version: string;
    description: string;
    engines: { node: string };
    dependencies: Record<string, string>;
  };
  const version = options.version ?? repoPkg.version;
  const agentDirs = ['agent', 'shared'].map((d) => path.join(dist, d));
  for (const dir of agentDirs) {
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
      throw new Error(`${dir} is missing: run npm run build first`);
  }

  const stage = mkdtempSync(path.join(os.tmpdir(), 'sync-agent-deb-'));
  try {
    const lib = path.join(stage, LAYOUT.lib);
    for (const d of ['agent', 'shared'])
      copyTree(path.join(dist, d), path.join(lib, 'dist', d), (f) => f.endsWith('.js'));

    const imported = importedPackages(agentDirs);
    const notRuntime = imported.filter((name) => repoPkg.dependencies[name] === undefined);
    if (notRuntime.length > 0)
      throw new Error(`the agent imports ${notRuntime.join(', ')}: not in package.json dependencies`);
    const { packages, leftOut } = runtimeClosure(root, imported);
    for (const p of packages) copyTree(path.join(root, p.dir), path.join(lib, p.dir), shipsFile);
    // The agent reads its version from here (shared/version.ts).
    const manifest = {
      name: 'password-sync',
      version,
      description: 'sync-agent, installed by the sync-agent Debian package',
      private: true,
      type: 'module',
      engines: repoPkg.engines,
      dependencies: Object.fromEntries(imported.map((name) => [name, repoPkg.dependencies[name]])),
    };
    writeFileSync(path.join(lib, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    install(path.join(here, 'sync-agent.sh'), path.join(stage, LAYOUT.bin), 0o755);
    install(path.join(here, 'sync-agent.service'), path.join(stage, LAYOUT.unit), 0o644);
    install(path.join(here, 'agent.env'), path.join(stage, LAYOUT.config), 0o600);
    install(
      path.join(root, 'docs', 'agent-install.md'),
      path.join(stage, LAYOUT.doc, 'agent-install.md'),
      0o644,
    );

    const natives = execFileSync('find', [stage, '-name', '*.node'], { encoding: 'utf8' }).trim();
    if (natives) throw new Error(`native code would go into an Architecture: all package:\n${natives}`);

    const control = path.join(stage, 'DEBIAN');
    mkdirSync(control);
    for (const script of ['postinst', 'prerm', 'postrm'])
      install(path.join(here, script), path.join(control, script), 0o755);
    writeFileSync(path.join(control, 'conffiles'), `/${LAYOUT.config}\n`);
    const node = /^>=\s*(\d+\.\d+)/.exec(repoPkg.engines.node)?.[1] ?? '20.11';
    writeFileSync(
      path.join(control, 'control'),
      [
        'Package: sync-agent',
        `Version: ${debianVersion(version)}`,
        'Architecture: all',
        'Maintainer: Password sync maintainers <sync-agent@localhost>',
        `Installed-Size: ${installedSizeKb(stage) - installedSizeKb(control)}`,
        `Depends: nodejs (>= ${node}), adduser`,
        'Suggests: smbclient', // rpcclient, for targets of kind windows
        'Section: admin',
        'Priority: optional',
        'Description: password sync agent',
        ' Pulls its site’s jobs from the password sync coordinator over HTTPS, verifies and',
        ' changes the passwords of the systems next to it, and reports back. Runs as the',
        ' sync-agent service under systemd; sync-agent enroll and sync-agent doctor set it up.',
        '',
      ].join('\n'),
    );

    const outDir = path.resolve(options.out ?? dist);
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `sync-agent_${debianVersion(version)}_all.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', `-Z${options.compress}`, '--build', stage, file], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    process.stdout.write(
      `${file}\n  version ${version}; ${packages.length} npm packages` +
        (leftOut.length ? `; left out: ${leftOut.join('; ')}` : '') +
        '\n',
    );
    return file;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  try {
    buildPackage(process.argv.slice(2));
  } catch (err) {
    console.error(`build: ${(err as Error).message}`);
    process.exit(1);
  }
}
