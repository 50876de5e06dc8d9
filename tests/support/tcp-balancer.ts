/**
 * A tiny TCP load balancer on loopback, as in front of coordinator replicas: each new connection
 * goes to the next backend in turn; a backend that refuses the connection (a replica killed) is
 * skipped for that connection, so clients reach whichever replica is still up. Established
 * connections are piped as they are (HTTP keep-alive stays on one replica, as with a real balancer).
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpBalancer {
  url: string;
  /** Connections handed to each backend so far, by `host:port`. */
  connections: Map<string, number>;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: { host: string; port: number }[]): Promise<TcpBalancer> {
  let next = 0;
  const open = new Set<Socket>();
  const connections = new Map<string, number>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };

  /** Connects to the first backend that accepts, starting with the next in turn. */
  const pick = (tried = 0): Promise<Socket> => {
    if (tried >= backends.length) return Promise.reject(new Error('no backend accepts connections'));
    const backend = backends[next++ % backends.length]!;
    return new Promise<Socket>((resolve, reject) => {
      const upstream = connect(backend);
      upstream.once('connect', () => {
        upstream.off('error', reject);
        const key = `${backend.host}:${backend.port}`;
        connections.set(key, (connections.get(key) ?? 0) + 1);
        resolve(upstream);
      });
      upstream.once('error', reject);
    }).catch(() => pick(tried + 1));
  };

  const server = createServer((client) => {
    track(client);
    client.pause();
    client.on('error', () => client.destroy());
    pick().then(
      (upstream) => {
        track(upstream);
        upstream.on('error', () => upstream.destroy());
        // One side gone: the other goes too (a killed replica resets its clients' connections).
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      },
      () => client.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
