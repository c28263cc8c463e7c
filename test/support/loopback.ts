// What every test server here does the same way: listen on loopback on a port the system picks, read a request body.
import type * as http from 'node:http';
import * as net from 'node:net';

/** Starts `server` on 127.0.0.1 at a free port and returns that port; rejects if it cannot listen. */
export async function listenOnLoopback(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/**
 * A loopback port the system handed out and this process let go again: nothing listens on it once this resolves. For
 * a server that must be told its port in its config (sshd, squid, the registry: another process may take the port
 * before it binds, so they retry), and for an address that must refuse connections.
 */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The whole body of a request, as text. */
export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
