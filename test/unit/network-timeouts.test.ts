// Every outbound call has the time limits of shared/src/net/network.ts (connect, first byte, idle), enforced by the
// one dispatcher: a host that accepts the connection and then says nothing fails in one line naming it, once —
// not after five retries.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { networkFetch } from '../../shared/src/net';
import { RegistryClient } from '../../shared/src/registry';

const LIMITS = { connectMs: 300, firstByteMs: 300, idleMs: 300 };

/** A TCP server that accepts and then never writes a byte. */
async function silentServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => count,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('network time limits (one place: shared/src/net)', () => {
  it('a host that takes the request and never answers fails at the first-byte limit, naming the host', async () => {
    const server = await silentServer();
    try {
      const fetch = networkFetch({ timeouts: LIMITS });
      await assert.rejects(fetch(`http://127.0.0.1:${server.port}/v2/`), (error: Error) => {
        const cause = error.cause as Error & { code?: string };
        assert.equal(cause.code, 'UND_ERR_HEADERS_TIMEOUT');
        assert.equal(cause.message, `127.0.0.1:${server.port} took the request but sent no response within 0.3 s`);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('an https host whose handshake never completes fails at the connect limit', async () => {
    const server = await silentServer();
    try {
      const fetch = networkFetch({ timeouts: LIMITS, tls: { rejectUnauthorized: true } });
      await assert.rejects(fetch(`https://127.0.0.1:${server.port}/v2/`), (error: Error) => {
        assert.equal((error.cause as { code?: string }).code, 'UND_ERR_CONNECT_TIMEOUT');
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('a body that stalls fails at the idle limit', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-length': '100' });
      response.write('only part of it');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const fetch = networkFetch({ timeouts: LIMITS });
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/blob`);
      await assert.rejects(response.arrayBuffer(), (error: Error) => {
        assert.equal((error.cause as { code?: string } | undefined)?.code ?? (error as { code?: string }).code, 'UND_ERR_BODY_TIMEOUT');
        return true;
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a slow but steady answer is not cut: the limits are per stage, not per request', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(200);
      let sent = 0;
      const timer = setInterval(() => {
        response.write('x');
        if (++sent === 5) {
          clearInterval(timer);
          response.end();
        }
      }, 150);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const fetch = networkFetch({ timeouts: LIMITS });
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`);
      assert.equal(await response.text(), 'xxxxx');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('the registry client tries a silent registry once and names it in one line', async () => {
    const server = await silentServer();
    try {
      const client = new RegistryClient({ registry: `127.0.0.1:${server.port}`, network: { timeouts: LIMITS } });
      await assert.rejects(
        client.request({ method: 'GET', path: '/v2/team/app/manifests/v1', scopes: [], expect: [200] }),
        (error: Error) => {
          assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port} took the request but sent no response within 0\\.3 s`));
          assert.doesNotMatch(error.message, /\n/);
          return true;
        },
      );
      assert.equal(server.connections(), 1, 'not retried');
    } finally {
      await server.close();
    }
  });
});
