import { randomBytes, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import type Docker from 'dockerode';
import type { Log } from '../log';
import { canonicalRegistryHost, loginFor, type RegistryLogin } from './engine';
import { fieldString, readFields, writeFields } from './protowire';

// A BuildKit build needs a client session even when the context comes in the request body: BuildKit resolves
// `FROM <registry image>` through it (without one the engine answers "no active sessions"), asking the client for
// credentials per registry host. The session is an HTTP/2 connection the engine opens to us over a hijacked
// `POST /session`; we serve gRPC on it. Two services: moby.filesync.v1.Auth/Credentials (session/auth/auth.proto in
// moby/buildkit) with per-host answers from the service connection, and grpc.health.v1.Health/Check, which BuildKit
// polls (every second on engine 20.10) and closes the session after a few failures (session/grpc.go).

const methods = {
  credentials: '/moby.filesync.v1.Auth/Credentials',
  health: '/grpc.health.v1.Health/Check',
} as const;

function unary<Req, Res>(path: string, decode: (buf: Buffer) => Req, encode: (res: Res) => Buffer): grpc.MethodDefinition<Req, Res> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: decode,
    responseSerialize: encode,
    responseDeserialize: () => ({}) as Res,
  };
}

interface CredentialsResponse {
  username: string;
  secret: string;
}

const authService: grpc.ServiceDefinition = {
  Credentials: unary<{ host: string }, CredentialsResponse>(
    methods.credentials,
    (buf) => {
      const host = readFields(buf).find((f) => f.field === 1);
      return { host: host ? fieldString(host.value) : '' };
    },
    (res) =>
      writeFields([
        { field: 1, value: res.username },
        { field: 2, value: res.secret },
      ]),
  ),
};

// grpc.health.v1.HealthCheckResponse{status: SERVING (1)}
const healthService: grpc.ServiceDefinition = {
  Check: unary<unknown, null>(
    methods.health,
    () => ({}),
    () => writeFields([{ field: 1, value: 1 }]),
  ),
};

/** A live BuildKit session; pass `id` as the build's `session` parameter and close it when the build ends. */
export interface BuildSession {
  id: string;
  close(): void;
}

/**
 * Opens a BuildKit session on the engine that answers credential requests from `logins` (matched by registry host,
 * Docker Hub aliases included) and anonymously for every other host. Nothing is written to disk.
 */
export async function openBuildSession(docker: Docker, logins: readonly RegistryLogin[], log: Log): Promise<BuildSession> {
  // Loaded here, not as the task starts: only BuildKit builds open a session (build/bundle.mjs keeps grpc in its own
  // file). Before the dial, so the hijacked connection meets a server as soon as it is up.
  const { Server, ServerCredentials } = await import('@grpc/grpc-js');
  const id = randomUUID();
  const socket = await new Promise<Duplex>((resolve, reject) => {
    docker.modem.dial(
      {
        path: '/session',
        method: 'POST',
        hijack: true,
        headers: {
          Upgrade: 'h2c',
          'X-Docker-Expose-Session-Uuid': id,
          'X-Docker-Expose-Session-Name': 'outer-loop',
          'X-Docker-Expose-Session-Sharedkey': randomBytes(16).toString('hex'),
          'X-Docker-Expose-Session-Grpc-Method': [methods.credentials, methods.health],
        },
        statusCodes: { 101: true, 200: true, 400: 'bad request', 404: 'sessions not supported', 500: 'server error' },
      },
      (error: Error | null, stream: unknown) => (error ? reject(error) : resolve(stream as Duplex)),
    );
  });

  const server = new Server();
  server.addService(authService, {
    Credentials: (call: grpc.ServerUnaryCall<{ host: string }, CredentialsResponse>, callback: grpc.sendUnaryData<CredentialsResponse>) => {
      const host = call.request.host;
      const login = loginFor(logins, host);
      log.debug(
        `BuildKit asks for credentials for ${canonicalRegistryHost(host)}: ${login ? 'from the service connection' : 'none, anonymous'}`,
      );
      callback(null, login ? { username: login.credentials.username, secret: login.credentials.password } : { username: '', secret: '' });
    },
  });
  server.addService(healthService, {
    Check: (_call: unknown, callback: grpc.sendUnaryData<null>) => callback(null, null),
  });
  // Through a tcp:// engine with TLS the hijacked socket is a TLSSocket whose ALPN chose nothing (alpnProtocol false,
  // the request was HTTP/1.1): Node's HTTP/2 server takes that for an HTTP/1 client, answers 403 and BuildKit reports
  // "connection closed". What the upgraded connection carries is h2c, whatever TLS negotiated beneath it.
  // (`encrypted` marks a TLSSocket: checked without loading node:tls for every build.)
  const overTls = socket as Duplex & { encrypted?: boolean; alpnProtocol?: string | false | null };
  if (overTls.encrypted === true) overTls.alpnProtocol = 'h2';
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  injector.injectConnection(socket);
  socket.on('error', (error: Error) => log.debug(`BuildKit session connection: ${error.message}`));

  let closed = false;
  return {
    id,
    close() {
      if (closed) return;
      closed = true;
      server.forceShutdown();
      injector.destroy();
      socket.destroy();
    },
  };
}
