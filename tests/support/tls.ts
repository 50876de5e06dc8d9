import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  caCert: string;
  /**
   * Paths of a certificate and its key. A server certificate names 127.0.0.1 and localhost unless
   * `subjectAltName` (openssl syntax, e.g. 'DNS:db.example') says otherwise.
   */
  issue(name: string, kind: 'server' | 'client', subjectAltName?: string): { cert: string; key: string };
  pem(path: string): Buffer;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });

/** A throw-away CA (openssl, in a temp folder) that issues a server certificate for 127.0.0.1 and client certificates. */
export function createPki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'pki-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    issue(name, kind, subjectAltName = 'IP:127.0.0.1,DNS:localhost') {
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        kind === 'server'
          ? `subjectAltName=${subjectAltName}\nextendedKeyUsage=serverAuth\n`
          : 'extendedKeyUsage=clientAuth\n',
      );
      openssl(
        [
          'req',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-subj',
          `/CN=${name}`,
          '-keyout',
          `${name}.key`,
          '-out',
          `${name}.csr`,
        ],
        dir,
      );
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-days',
          '2',
          '-extfile',
          ext,
          '-out',
          `${name}.crt`,
        ],
        dir,
      );
      return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    },
    pem: (path) => readFileSync(path),
  };
}
