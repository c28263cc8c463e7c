import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from '../../shared/src/docker/build';
import {
  canonicalRegistryHost,
  connectEngine,
  describeEngine,
  engineAddress,
  engineMessage,
  engineServerAddress,
  EngineSettingsError,
  EngineUnreachableError,
  loginFor,
} from '../../shared/src/docker/engine';
import { runTests } from '../../shared/src/docker/run';
import { memoryLog } from '../../shared/src/log';
import { freeLoopbackPort } from '../support/loopback';
import { makeTestCertificates, requireOpenssl, startTlsRelay, type TestCertificates, type TlsRelay } from '../support/tls-relay';

describe('engine connection', () => {
  /** No config.json, no context store: only the default socket exists. */
  const onlySocket = {
    home: '/home/agent',
    platform: 'linux' as const,
    files: { read: () => undefined, exists: (file: string) => file === '/var/run/docker.sock' },
  };
  const connect = (env: NodeJS.ProcessEnv) => connectEngine(env, onlySocket);

  it('follows DOCKER_HOST like the docker CLI: default socket, unix://, tcp:// and TLS', () => {
    assert.equal(engineAddress(connect({})), 'unix:///var/run/docker.sock');
    assert.equal(engineAddress(connect({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })), 'unix:///run/user/1000/docker.sock');
    assert.equal(engineAddress(connect({ DOCKER_HOST: 'tcp://10.0.0.5:2375' })), 'tcp://10.0.0.5:2375');
    assert.equal(engineAddress(connect({ DOCKER_HOST: 'engine.example:2375' })), 'tcp://engine.example:2375');
    assert.throws(
      () => connect({ DOCKER_HOST: 'tcp://[bad' }),
      (e: Error) => e instanceof EngineSettingsError && /^DOCKER_HOST is 'tcp:\/\/\[bad', which is not an engine address/.test(e.message),
    );
  });

  it('hands ssh2 an IPv6 literal without its brackets, which name resolution would not take', () => {
    const modem = connect({ DOCKER_HOST: 'ssh://deploy@[::1]:2222' }).modem as unknown as {
      host: string;
      port: number | string;
      username: string;
    };
    assert.deepEqual(
      { host: modem.host, port: Number(modem.port), username: modem.username },
      { host: '::1', port: 2222, username: 'deploy' },
    );
    assert.equal((connect({ DOCKER_HOST: 'ssh://deploy@build-host' }).modem as unknown as { host: string }).host, 'build-host');
  });

  it('talks HTTPS with the TLS files in its own agent, verifying unless told not to', () => {
    const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-engine-certs-'));
    try {
      for (const file of ['ca.pem', 'cert.pem', 'key.pem']) fs.writeFileSync(path.join(certs, file), `${file} bytes`);
      const modemOf = (env: NodeJS.ProcessEnv) =>
        connectEngine(env, { home: '/home/agent', platform: 'linux' }).modem as unknown as {
          protocol: string;
          host: string;
          port: string;
          socketPath?: string;
          agent?: https.Agent;
        };
      const verified = modemOf({ DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
      assert.deepEqual([verified.protocol, verified.host, verified.port], ['https', '127.0.0.1', '2376']);
      assert.ok(verified.agent instanceof https.Agent);
      const options = verified.agent.options;
      assert.equal(options.rejectUnauthorized, true);
      assert.equal(String(options.ca), 'ca.pem bytes');
      assert.equal(String(options.cert), 'cert.pem bytes');
      assert.equal(String(options.key as Buffer), 'key.pem bytes');
      const unverified = modemOf({ DOCKER_HOST: 'tcp://[::1]:2376', DOCKER_TLS: '1', DOCKER_CERT_PATH: certs });
      assert.equal(unverified.host, '::1');
      assert.equal((unverified.agent?.options as https.AgentOptions).rejectUnauthorized, false);
      const plain = modemOf({ DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_CERT_PATH: certs });
      assert.equal(plain.protocol, 'http', 'no TLS variable, no TLS: the CLI does not guess from the port');
    } finally {
      fs.rmSync(certs, { recursive: true, force: true });
    }
  });

  it("never falls back to this process's own DOCKER_HOST or DOCKER_CERT_PATH (dockerode's defaults)", () => {
    const saved = { host: process.env.DOCKER_HOST, certs: process.env.DOCKER_CERT_PATH };
    process.env.DOCKER_HOST = 'tcp://10.9.9.9:2376';
    process.env.DOCKER_CERT_PATH = '/nonexistent-outerloop-certs';
    try {
      const modem = connect({}).modem as unknown as { host?: string; socketPath?: string; protocol: string };
      assert.deepEqual([modem.host, modem.socketPath, modem.protocol], [undefined, '/var/run/docker.sock', 'http']);
      assert.equal(process.env.DOCKER_HOST, 'tcp://10.9.9.9:2376', 'the environment is left as it was');
    } finally {
      for (const [name, value] of [
        ['DOCKER_HOST', saved.host],
        ['DOCKER_CERT_PATH', saved.certs],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('says where the address came from when the engine does not answer', async () => {
    const port = await freeLoopbackPort();
    await assert.rejects(describeEngine(connect({ DOCKER_HOST: `tcp://127.0.0.1:${port}` })), (e: Error) => {
      assert.ok(e instanceof EngineUnreachableError);
      assert.equal(
        e.message,
        `the Docker engine at tcp://127.0.0.1:${port} (from DOCKER_HOST) is not reachable (connect ECONNREFUSED 127.0.0.1:${port}): is it running, and may this agent use it?`,
      );
      return true;
    });
  });

  describe('a TLS handshake the engine refuses', function () {
    let certs: TestCertificates;
    let other: TestCertificates;
    let relay: TlsRelay;
    before(async function () {
      requireOpenssl(this);
      certs = makeTestCertificates();
      other = makeTestCertificates('outerloop-other');
      // Nothing behind the relay: these handshakes fail before anything is relayed.
      relay = await startTlsRelay(certs, path.join(certs.dir, 'no-engine.sock'));
    });
    after(async () => {
      await relay?.stop();
      certs?.remove();
      other?.remove();
    });

    it('without a client certificate: one line naming the address, the origin and the TLS alert', async () => {
      const noClientCert = path.join(other.dir, 'ca-only');
      fs.mkdirSync(noClientCert);
      fs.copyFileSync(path.join(certs.clientDir, 'ca.pem'), path.join(noClientCert, 'ca.pem'));
      const docker = connectEngine({ DOCKER_HOST: relay.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: noClientCert });
      const before = relay.rejected;
      await assert.rejects(describeEngine(docker), (e: Error) => {
        assert.ok(e instanceof EngineUnreachableError, e.message);
        assert.match(
          e.message,
          new RegExp(
            `^the Docker engine at ${relay.url} \\(from DOCKER_HOST, TLS with the files in ${noClientCert}\\) refused the TLS connection \\([^()]*certificate required[^()]*\\): check the CA and the client certificate and key$`,
          ),
        );
        return true;
      });
      assert.equal(relay.rejected, before + 1);
    });

    it("with another CA: the engine's certificate is not trusted", async () => {
      const docker = connectEngine({ DOCKER_HOST: relay.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: other.clientDir });
      await assert.rejects(
        describeEngine(docker),
        /^EngineUnreachableError: the Docker engine at tcp:\/\/127\.0\.0\.1:\d+ \(from DOCKER_HOST, TLS with the files in .*\) refused the TLS connection \(self-signed certificate in certificate chain\)/,
      );
    });
  });

  describe('when the engine is not there', () => {
    const socket = path.join(os.tmpdir(), `outerloop-no-engine-${process.pid}.sock`);
    const docker = connectEngine({ DOCKER_HOST: `unix://${socket}` });

    it('says where it looked, in one line', async () => {
      await assert.rejects(
        describeEngine(docker),
        (e: Error) =>
          e instanceof EngineUnreachableError &&
          e.message.startsWith(`the Docker engine at unix://${socket} (from DOCKER_HOST) is not reachable (`),
      );
    });

    it('makes a test run "could not run the tests"', async () => {
      const result = await runTests(docker, { image: 'x', resultsDirectory: path.join(os.tmpdir(), 'unused') }, memoryLog());
      assert.equal(result.outcome, 'couldNotRun');
      assert.match(result.message, /^could not run the tests: the Docker engine at unix:\/\/.* is not reachable/);
    });

    it('fails a build in one line, after checking the Dockerfile', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-no-engine-'));
      try {
        fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch AS testrunner\n');
        await assert.rejects(
          buildImage(docker, { dockerfile: path.join(dir, 'Dockerfile'), context: dir, target: 'testrunner', imageName: 'x' }, memoryLog()),
          EngineUnreachableError,
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it("keeps the engine's own words from a failed call", () => {
    assert.equal(
      engineMessage({ message: '(HTTP code 404) no such container - x', json: { message: 'No such container: abc' } }),
      'No such container: abc',
    );
    assert.equal(engineMessage(new Error('(HTTP code 500) server error - boom ')), 'boom');
  });

  it('matches registry logins by host, Docker Hub under all its names', () => {
    const logins = [
      { host: 'docker.io', credentials: { username: 'hub', password: 'p' } },
      { host: 'Registry.Example:5000', credentials: { username: 'r', password: 'p' } },
    ];
    assert.equal(loginFor(logins, 'registry-1.docker.io')?.credentials.username, 'hub');
    assert.equal(loginFor(logins, 'https://index.docker.io/v1/')?.credentials.username, 'hub');
    assert.equal(loginFor(logins, 'registry.example:5000')?.credentials.username, 'r');
    assert.equal(loginFor(logins, 'registry.example'), undefined);
    assert.equal(canonicalRegistryHost('INDEX.docker.io'), 'docker.io');
    assert.equal(engineServerAddress('docker.io'), 'https://index.docker.io/v1/');
    assert.equal(engineServerAddress('myacr.azurecr.io'), 'myacr.azurecr.io');
  });
});
