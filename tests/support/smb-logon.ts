import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The tests' own, independent SMB logon: smbclient opens a signed SMB 2/3 session as
 * DOMAIN\username and connects to IPC$ (`-L` would also try SMB1 for the workgroup list, which
 * these servers do not speak, and wait for it). The password is in an authentication file (0600,
 * removed at once), never on the command line. True on success; false when the server refuses the
 * logon (or offers only a guest session, which a signing client refuses).
 */
export async function smbLogon(
  server: { host: string; port: number; domain: string },
  username: string,
  password: string,
): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'test-smb-'));
  const auth = join(dir, `auth-${randomBytes(4).toString('hex')}`);
  writeFileSync(auth, `username = ${username}\npassword = ${password}\ndomain = ${server.domain}\n`, {
    mode: 0o600,
  });
  try {
    const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        '/usr/bin/smbclient',
        [
          `//${server.host}/IPC$`,
          '-p',
          String(server.port),
          '-A',
          auth,
          '-c',
          'exit',
          '--option=client min protocol=SMB2_02',
          '--client-protection=sign',
        ],
        { timeout: 20_000 },
        (error, stdout, stderr) =>
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
            out: `${stdout}${stderr}`,
          }),
      );
    });
    if (code === 0) return true;
    if (/NT_STATUS_(LOGON_FAILURE|WRONG_PASSWORD)|signature/i.test(out)) return false;
    throw new Error(`smbclient as ${username} at ${server.host}:${server.port}: exit ${code}: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
