/**
 * Servers on loopback that go quiet at a chosen point, for the adapters' timeouts:
 * - startSilentTcpServer(): accepts TCP connections and never sends a byte (an SSH or database
 *   server that hangs before its handshake, or a firewall that accepts and drops);
 * - startScriptedSshServer(): a real SSH server (ssh2's server side) that completes the handshake
 *   and then, as told, never answers the password, or accepts it and runs a scripted `passwd`
 *   dialogue that stops answering at a chosen prompt, or answers every command at once (its output,
 *   exit status and close written with the exec's confirmation: what a client on a loaded machine
 *   reads in one go, which OpenSSH cannot be made to do on demand);
 * - startScriptedLdapServer(): plain LDAP that accepts any simple bind and never answers what
 *   follows (a password change sent to a server that then goes quiet).
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { Server as SshServer, utils, type ServerChannel } from 'ssh2';

export interface QuietServer {
  host: string;
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

async function listen(server: NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no address');
  return address.port;
}

export async function startSilentTcpServer(): Promise<QuietServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    // Reads whatever comes, answers nothing.
    socket.resume();
  });
  const port = await listen(server);
  return {
    host: '127.0.0.1',
    port,
    connections: () => accepted,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface ScriptedSsh extends QuietServer {
  /** What the client wrote on the exec channel (the answers to the prompts). */
  received(): string[];
}

/**
 * `password: 'never'`: the handshake completes, the password request is never answered.
 * `password: 'accept'`: any password logs in; an exec request gets a channel on which `prompts` are
 * printed one at a time, each after the client's answer to the one before; after the last one the
 * server says nothing more (and never exits). With `exit`, every exec is answered at once instead:
 * the exec's confirmation, `stderr`, the exit status and the channel's close in one socket write
 * (ssh2's `_sock`, corked until they are all written).
 */
export async function startScriptedSshServer(options: {
  password: 'never' | 'accept';
  prompts?: string[];
  exit?: { code: number; stderr?: string };
}): Promise<ScriptedSsh> {
  const hostKey = utils.generateKeyPairSync('ed25519').private;
  const received: string[] = [];
  let accepted = 0;
  const channels = new Set<ServerChannel>();
  const clients = new Set<{ end(): void }>();
  const server = new SshServer({ hostKeys: [hostKey] }, (client) => {
    accepted++;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'password') return ctx.reject(['password']);
      if (options.password === 'accept') ctx.accept();
      // 'never': leave the request unanswered.
    });
    client.on('session', (accept) => {
      const session = accept();
      session.on('pty', (ok) => ok?.());
      session.on('exec', (ok) => {
        // The exec's confirmation held back until the whole answer is written: one write, one read.
        const socket = (client as unknown as { _sock: Socket })._sock;
        if (options.exit) socket.cork();
        const channel = ok();
        channels.add(channel);
        if (options.exit) {
          if (options.exit.stderr) channel.stderr.write(options.exit.stderr);
          channel.exit(options.exit.code);
          channel.end();
          setImmediate(() => socket.uncork());
          return;
        }
        const prompts = [...(options.prompts ?? [])];
        const next = () => {
          const prompt = prompts.shift();
          if (prompt !== undefined) channel.write(prompt);
        };
        channel.on('data', (chunk: Buffer) => {
          received.push(chunk.toString('utf8'));
          next();
        });
        next();
      });
    });
  });
  const port = await listen(server as unknown as NetServer);
  return {
    host: '127.0.0.1',
    port,
    connections: () => accepted,
    received: () => [...received],
    stop: async () => {
      for (const ch of channels) ch.destroy();
      for (const c of clients) c.end();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface ScriptedLdap extends QuietServer {
  /** The protocol operation tags of the requests received (0x60 bind, 0x77 extended, 0x66 modify…). */
  operations(): number[];
}

/**
 * Plain LDAP (no TLS): every bind request gets a success; anything else is read and never answered.
 * Requests are told apart by their protocol operation tag only (message ids below 128).
 */
export async function startScriptedLdapServer(): Promise<ScriptedLdap> {
  const sockets = new Set<Socket>();
  const ops: number[] = [];
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const message = nextBerElement(buffer);
        if (!message) return;
        buffer = buffer.subarray(message.end);
        // SEQUENCE { messageID INTEGER, protocolOp … }
        const body = message.value;
        if (body[0] !== 0x02) continue;
        const idLength = body[1]!;
        const id = body.subarray(2, 2 + idLength);
        const op = body[2 + idLength]!;
        ops.push(op);
        if (op === 0x60) {
          // BindResponse: success, no matched DN, no message.
          const result = Buffer.from([0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]);
          const inner = Buffer.concat([Buffer.from([0x02, id.length]), id, result]);
          socket.write(Buffer.concat([Buffer.from([0x30, inner.length]), inner]));
        }
      }
    });
  });
  const port = await listen(server);
  return {
    host: '127.0.0.1',
    port,
    connections: () => accepted,
    operations: () => [...ops],
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The first BER element of `buf` (its content and where it ends), once it is all there. */
function nextBerElement(buf: Buffer): { value: Buffer; end: number } | undefined {
  if (buf.length < 2) return undefined;
  let length = buf[1]!;
  let start = 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (buf.length < 2 + bytes) return undefined;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + buf[2 + i]!;
    start += bytes;
  }
  if (buf.length < start + length) return undefined;
  return { value: buf.subarray(start, start + length), end: start + length };
}
