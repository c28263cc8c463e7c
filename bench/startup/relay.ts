// A byte relay that notes when a request first arrives: a task's first outbound request is timed where it lands,
// in front of the real registry, contract server or Docker engine socket, with nothing in the task changed.
import * as fs from 'node:fs';
import * as net from 'node:net';

export interface Relay {
  /** `127.0.0.1:PORT` for a TCP relay, the socket path for a unix one. */
  address: string;
  /** hrtime (ns) of the first byte any client sent since the last {@link Relay.reset}; undefined before. */
  firstByteAt(): bigint | undefined;
  /** Resolves with that time as soon as it is known. */
  firstByte(): Promise<bigint>;
  reset(): void;
  close(): Promise<void>;
}

type Endpoint = { port: number; host?: string } | { path: string };

/** Listens on `listen` (a port on 127.0.0.1 when omitted) and pipes every connection to `target`. */
export async function startRelay(target: Endpoint, listen?: { path: string }): Promise<Relay> {
  let first: bigint | undefined;
  let waiters: ((at: bigint) => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect(target as net.NetConnectOpts);
    sockets.add(upstream);
    client.once('data', () => {
      if (first !== undefined) return;
      first = process.hrtime.bigint();
      for (const wake of waiters.splice(0)) wake(first);
    });
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  if (listen) fs.rmSync(listen.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (listen) server.listen(listen.path, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  const address = listen ? listen.path : `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    address,
    firstByteAt: () => first,
    firstByte: () => (first !== undefined ? Promise.resolve(first) : new Promise((resolve) => waiters.push(resolve))),
    reset: () => {
      first = undefined;
      waiters = [];
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (listen) fs.rmSync(listen.path, { force: true });
    },
  };
}
