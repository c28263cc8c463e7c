// Where the tasks find the Docker engine: the docker CLI's search (docker/cli cli/command/cli.go resolveContextName,
// getDockerEndPoint; cli/flags/options.go; opts/hosts.go; cli/context/store), on an in-memory file system.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import {
  contextId,
  EngineSettingsError,
  parseEngineHost,
  resolveEngineEndpoint,
  type EndpointFiles,
  type EngineEndpoint,
} from '../../shared/src/docker/endpoint';

const HOME = '/home/agent';
const CONFIG = path.join(HOME, '.docker');

/** Files by path; sockets are files too (only their existence matters). */
function memoryFiles(files: Record<string, string | Buffer> = {}): EndpointFiles & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    read(file) {
      reads.push(file);
      const value = files[file];
      return value === undefined ? undefined : Buffer.from(value);
    },
    exists: (file) => file in files,
  };
}

const SOCKET = { '/var/run/docker.sock': '' };

function resolve(
  env: NodeJS.ProcessEnv,
  files: Record<string, string | Buffer> = SOCKET,
  platform: NodeJS.Platform = 'linux',
): EngineEndpoint {
  return resolveEngineEndpoint({ env, home: HOME, platform, files: memoryFiles(files) });
}

function settingsError(env: NodeJS.ProcessEnv, files: Record<string, string | Buffer>, pattern: RegExp): void {
  assert.throws(
    () => resolve(env, files),
    (e: Error) => {
      assert.ok(e instanceof EngineSettingsError, `${e.name}: ${e.message}`);
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /[\r\n]/, 'one line');
      return true;
    },
  );
}

/** A context as `docker context create` lays it out: meta.json under the hex SHA-256 of its name, TLS files beside. */
function contextFiles(
  configDir: string,
  name: string,
  docker: Record<string, unknown>,
  tls: Partial<Record<'ca.pem' | 'cert.pem' | 'key.pem', string>> = {},
): Record<string, string> {
  const id = contextId(name);
  const files: Record<string, string> = {
    [path.join(configDir, 'contexts', 'meta', id, 'meta.json')]: JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker } }),
  };
  for (const [file, body] of Object.entries(tls)) files[path.join(configDir, 'contexts', 'tls', id, 'docker', file)] = body;
  return files;
}

const metaPath = (name: string, configDir = CONFIG) => path.join(configDir, 'contexts', 'meta', contextId(name), 'meta.json');
const config = (body: object, configDir = CONFIG) => ({ [path.join(configDir, 'config.json')]: JSON.stringify(body) });

describe("docker engine endpoint: the docker CLI's search", () => {
  describe('the default socket, pipe and Docker Desktop', () => {
    it('is /var/run/docker.sock when nothing names another engine, and says so', () => {
      const endpoint = resolve({});
      assert.equal(endpoint.host, 'unix:///var/run/docker.sock');
      assert.equal(endpoint.tls, undefined);
      assert.equal(
        endpoint.origin,
        `at the default socket (no DOCKER_HOST, no docker context; no Docker Desktop socket at ${HOME}/.docker/run/docker.sock either)`,
      );
    });

    it("is Docker Desktop's ~/.docker/run/docker.sock only when /var/run/docker.sock is absent", () => {
      const desktop = `${HOME}/.docker/run/docker.sock`;
      const endpoint = resolve({}, { [desktop]: '' });
      assert.equal(endpoint.host, `unix://${desktop}`);
      assert.match(
        endpoint.origin,
        /^at Docker Desktop's socket \(no DOCKER_HOST, no docker context; \/var\/run\/docker\.sock does not exist\)$/,
      );
      assert.equal(resolve({}, { [desktop]: '', ...SOCKET }).host, 'unix:///var/run/docker.sock', 'the system socket comes first');
      assert.equal(
        resolve({ DOCKER_HOST: 'unix:///var/run/docker.sock' }, { [desktop]: '' }).host,
        'unix:///var/run/docker.sock',
        'DOCKER_HOST is taken as given',
      );
    });

    it('is the named pipe //./pipe/docker_engine on Windows', () => {
      const endpoint = resolve({}, {}, 'win32');
      assert.equal(endpoint.host, 'npipe:////./pipe/docker_engine');
      assert.match(endpoint.origin, /^at the default named pipe/);
    });
  });

  describe('DOCKER_HOST, parsed as opts/hosts.go parses it', () => {
    const host = (value: string) => resolve({ DOCKER_HOST: value }).host;

    it("takes unix, tcp, npipe and ssh addresses, with the CLI's defaults for what is left out", () => {
      assert.equal(host('unix:///run/user/1000/docker.sock'), 'unix:///run/user/1000/docker.sock');
      assert.equal(host('unix://'), 'unix:///var/run/docker.sock');
      assert.equal(host('/run/podman/podman.sock'), 'unix:///run/podman/podman.sock', 'a bare path is a socket');
      assert.equal(host('tcp://10.0.0.5:2376'), 'tcp://10.0.0.5:2376');
      assert.equal(host('tcp://engine.example'), 'tcp://engine.example:2375');
      assert.equal(host('engine.example:2376'), 'tcp://engine.example:2376', 'no scheme is tcp');
      assert.equal(host('tcp://'), 'tcp://localhost:2375');
      assert.equal(host('tcp://[::1]:2376'), 'tcp://[::1]:2376');
      assert.equal(host('npipe:////./pipe/docker_engine_linux'), 'npipe:////./pipe/docker_engine_linux');
      assert.equal(host('npipe://'), 'npipe:////./pipe/docker_engine');
      assert.equal(host('ssh://deploy@build-host:2222'), 'ssh://deploy@build-host:2222');
      assert.equal(host('  tcp://10.0.0.5:2375  '), 'tcp://10.0.0.5:2375', 'trimmed, as ParseHost does');
    });

    it('says which setting is wrong, in one line, for what is not an engine address', () => {
      settingsError(
        { DOCKER_HOST: 'tcp://[bad' },
        SOCKET,
        /^DOCKER_HOST is 'tcp:\/\/\[bad', which is not an engine address: use unix:\/\/\/path\/docker\.sock, tcp:\/\/host:port, npipe:\/\/\/\/\.\/pipe\/name or ssh:\/\/user@host$/,
      );
      settingsError(
        { DOCKER_HOST: 'https://engine.example:2376' },
        SOCKET,
        /^DOCKER_HOST is 'https:\/\/engine\.example:2376', which is not an engine address/,
      );
      settingsError({ DOCKER_HOST: 'fd://' }, SOCKET, /^DOCKER_HOST is 'fd:\/\/', which is a socket handed to the engine by systemd/);
      settingsError(
        { DOCKER_HOST: 'tcp://host:notaport' },
        SOCKET,
        /^DOCKER_HOST is 'tcp:\/\/host:notaport', which is not an engine address/,
      );
      settingsError(
        { DOCKER_HOST: 'ssh://deploy:hunter2@' },
        SOCKET,
        /^DOCKER_HOST is 'ssh:\/\/deploy:\*\*\*@', which (is not an engine address|names no host)/,
      );
      settingsError(
        { DOCKER_HOST: 'ssh://deploy:hunter2@build-host' },
        SOCKET,
        /^DOCKER_HOST is 'ssh:\/\/deploy:\*\*\*@build-host', which holds a password, which an ssh:\/\/ engine cannot log in with \(a key in the ssh-agent at SSH_AUTH_SOCK can\)/,
      );
      assert.throws(
        () => parseEngineHost('ssh://deploy:hunter2@[x', 'DOCKER_HOST is'),
        (e: Error) => e instanceof EngineSettingsError && !e.message.includes('hunter2'),
      );
    });

    it('names DOCKER_HOST as the origin', () => {
      assert.equal(resolve({ DOCKER_HOST: 'tcp://127.0.0.1:41234' }).origin, 'from DOCKER_HOST');
    });

    it('is plain HTTP on any port without DOCKER_TLS or DOCKER_TLS_VERIFY, as in the CLI (no guessing from 2376)', () => {
      assert.equal(resolve({ DOCKER_HOST: 'tcp://engine.example:2376' }).tls, undefined);
    });
  });

  describe('TLS for the default context: DOCKER_TLS, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH', () => {
    const certs = '/etc/engine-certs';
    const pems = { [`${certs}/ca.pem`]: 'CA', [`${certs}/cert.pem`]: 'CERT', [`${certs}/key.pem`]: 'KEY' };

    it('verifies with ca.pem and presents cert.pem/key.pem from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set', () => {
      const endpoint = resolve({ DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }, pems);
      assert.equal(endpoint.host, 'tcp://127.0.0.1:2376');
      assert.deepEqual(
        {
          verify: endpoint.tls?.verify,
          ca: endpoint.tls?.ca?.toString(),
          cert: endpoint.tls?.cert?.toString(),
          key: endpoint.tls?.key?.toString(),
          folder: endpoint.tls?.folder,
        },
        { verify: true, ca: 'CA', cert: 'CERT', key: 'KEY', folder: certs },
      );
      assert.equal(endpoint.origin, `from DOCKER_HOST, TLS with the files in ${certs}`);
    });

    it('treats any non-empty DOCKER_TLS_VERIFY as "verify", even 0 (the CLI tests for != "")', () => {
      assert.equal(resolve({ DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '0', DOCKER_CERT_PATH: certs }, pems).tls?.verify, true);
      assert.equal(resolve({ DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: certs }, pems).tls, undefined);
    });

    it('uses TLS without verifying the engine for DOCKER_TLS alone; the client certificate is optional', () => {
      const endpoint = resolve({ DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS: '1', DOCKER_CERT_PATH: '/empty' }, {});
      assert.equal(endpoint.tls?.verify, false);
      assert.equal(endpoint.tls?.cert, undefined);
      assert.match(endpoint.origin, /TLS without verification/);
    });

    it('reads the files from DOCKER_CONFIG, else ~/.docker, when DOCKER_CERT_PATH is not set', () => {
      const home = { [`${CONFIG}/ca.pem`]: 'HOME-CA' };
      assert.equal(resolve({ DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1' }, home).tls?.ca?.toString(), 'HOME-CA');
      const elsewhere = { '/srv/docker-config/ca.pem': 'CONFIG-CA' };
      assert.equal(
        resolve(
          { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CONFIG: '/srv/docker-config' },
          elsewhere,
        ).tls?.ca?.toString(),
        'CONFIG-CA',
      );
    });

    it('goes to tcp://localhost:2376 when TLS is asked for without DOCKER_HOST (opts/hosts.go defaultTLSHost)', () => {
      const endpoint = resolve({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }, pems);
      assert.equal(endpoint.host, 'tcp://localhost:2376');
      assert.match(endpoint.origin, /^from DOCKER_TLS_VERIFY without DOCKER_HOST, the docker CLI's default TLS address/);
    });

    it('needs no TLS for a socket', () => {
      assert.equal(
        resolve({ DOCKER_HOST: 'unix:///var/run/docker.sock', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nowhere' }).tls,
        undefined,
      );
    });

    it('fails in one line when the files it needs are not there', () => {
      settingsError(
        { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nowhere' },
        {},
        /^DOCKER_TLS_VERIFY is set but \/nowhere\/ca\.pem does not exist: set DOCKER_CERT_PATH to the folder with ca\.pem, cert\.pem and key\.pem$/,
      );
      settingsError(
        { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs },
        { [`${certs}/ca.pem`]: 'CA', [`${certs}/cert.pem`]: 'CERT' },
        /^DOCKER_CERT_PATH has cert\.pem but no key\.pem \(\/etc\/engine-certs\)/,
      );
    });
  });

  describe('docker contexts', () => {
    it('finds the context store by the SHA-256 of the name, as the CLI writes it', () => {
      // The folder a real docker CLI made for a context named 'local' (morecontainers/docker-context-env README).
      assert.equal(contextId('local'), '25bf8e1a2393f1108d37029b3df5593236c755742ec93465bbafa9b290bddcf6');
    });

    it('uses currentContext from config.json: its host and its TLS files, verified', () => {
      const files = {
        ...SOCKET,
        ...config({ auths: {}, currentContext: 'remote' }),
        ...contextFiles(
          CONFIG,
          'remote',
          { Host: 'tcp://10.1.2.3:2376', SkipTLSVerify: false },
          { 'ca.pem': 'CTX-CA', 'cert.pem': 'CTX-CERT', 'key.pem': 'CTX-KEY' },
        ),
      };
      const endpoint = resolve({}, files);
      assert.equal(endpoint.host, 'tcp://10.1.2.3:2376');
      assert.equal(endpoint.tls?.verify, true);
      assert.equal(endpoint.tls?.ca?.toString(), 'CTX-CA');
      assert.equal(endpoint.tls?.key?.toString(), 'CTX-KEY');
      assert.equal(endpoint.tls?.folder, path.join(CONFIG, 'contexts', 'tls', contextId('remote'), 'docker'));
      assert.equal(
        endpoint.origin.split(', TLS')[0],
        `from docker context 'remote', named by currentContext in ${CONFIG}/config.json, in ${metaPath('remote')}`,
      );
    });

    it('skips verification when the context says SkipTLSVerify, and is plain HTTP with no TLS files', () => {
      const skip = resolve(
        { DOCKER_CONTEXT: 'insecure' },
        contextFiles(CONFIG, 'insecure', { Host: 'tcp://10.1.2.3:2376', SkipTLSVerify: true }),
      );
      assert.equal(skip.tls?.verify, false);
      const plain = resolve({ DOCKER_CONTEXT: 'plain' }, contextFiles(CONFIG, 'plain', { Host: 'tcp://10.1.2.3:2375' }));
      assert.equal(plain.tls, undefined, 'cli/context/docker/load.go: no TLS data and no SkipTLSVerify is no TLS');
    });

    it('takes a socket, ssh or an empty host (the default socket) from a context', () => {
      assert.equal(
        resolve(
          { DOCKER_CONTEXT: 'desktop-linux' },
          contextFiles(CONFIG, 'desktop-linux', { Host: `unix://${HOME}/.docker/desktop/docker.sock` }),
        ).host,
        `unix://${HOME}/.docker/desktop/docker.sock`,
      );
      assert.equal(
        resolve({ DOCKER_CONTEXT: 'builder' }, contextFiles(CONFIG, 'builder', { Host: 'ssh://ci@builder.example' })).host,
        'ssh://ci@builder.example',
      );
      assert.equal(resolve({ DOCKER_CONTEXT: 'empty' }, contextFiles(CONFIG, 'empty', {})).host, 'unix:///var/run/docker.sock');
    });

    it("reads keys without regard to case, as Go's encoding/json does", () => {
      const file = { [metaPath('lower')]: JSON.stringify({ name: 'lower', endpoints: { docker: { host: 'tcp://10.9.8.7:2375' } } }) };
      assert.equal(resolve({ DOCKER_CONTEXT: 'lower' }, file).host, 'tcp://10.9.8.7:2375');
    });

    it('looks in DOCKER_CONFIG for config.json and the context store', () => {
      const other = '/srv/ci-docker';
      const files = { ...config({ currentContext: 'ci' }, other), ...contextFiles(other, 'ci', { Host: 'tcp://10.4.4.4:2375' }) };
      const endpoint = resolve({ DOCKER_CONFIG: other }, files);
      assert.equal(endpoint.host, 'tcp://10.4.4.4:2375');
      assert.match(endpoint.origin, new RegExp(`named by currentContext in ${other}/config\\.json, in ${other}/contexts/meta/`));
    });

    it('fails in one line naming the context and the file when the context does not exist', () => {
      settingsError(
        { DOCKER_CONTEXT: 'gone' },
        SOCKET,
        new RegExp(
          `^docker context 'gone' \\(named by DOCKER_CONTEXT\\) does not exist: there is no ${metaPath('gone')}; create it with 'docker context create', or name another context$`,
        ),
      );
      settingsError(
        {},
        config({ currentContext: 'gone' }),
        new RegExp(
          `^docker context 'gone' \\(named by currentContext in ${CONFIG}/config\\.json\\) does not exist: there is no ${metaPath('gone')}`,
        ),
      );
    });

    it('fails in one line naming the context and the file for a malformed meta.json or one without a docker endpoint', () => {
      settingsError(
        { DOCKER_CONTEXT: 'broken' },
        { [metaPath('broken')]: '{"Name": "broken", "Endpoints": ' },
        new RegExp(`^docker context 'broken' \\(named by DOCKER_CONTEXT\\): ${metaPath('broken')} is not valid JSON \\(`),
      );
      settingsError({ DOCKER_CONTEXT: 'broken' }, { [metaPath('broken')]: '[1]' }, /: .*meta\.json is not a JSON object$/);
      settingsError(
        { DOCKER_CONTEXT: 'k8s' },
        { [metaPath('k8s')]: JSON.stringify({ Name: 'k8s', Endpoints: { kubernetes: {} } }) },
        new RegExp(`^docker context 'k8s' \\(named by DOCKER_CONTEXT\\) has no docker endpoint in ${metaPath('k8s')}$`),
      );
      settingsError(
        { DOCKER_CONTEXT: 'odd' },
        contextFiles(CONFIG, 'odd', { Host: 42 }),
        /Endpoints\.docker\.Host in .*meta\.json must be an address, not 42$/,
      );
      settingsError(
        { DOCKER_CONTEXT: 'bad' },
        contextFiles(CONFIG, 'bad', { Host: 'http://x' }),
        /^docker context 'bad' \(named by DOCKER_CONTEXT\): Endpoints\.docker\.Host in .*meta\.json is 'http:\/\/x', which is not an engine address/,
      );
    });

    it('fails in one line naming config.json when it is not JSON', () => {
      settingsError(
        {},
        { [`${CONFIG}/config.json`]: '{ "currentContext": ' },
        new RegExp(`^${CONFIG}/config\\.json is not valid JSON \\(.*\\): fix it, or set DOCKER_CONFIG to another folder$`),
      );
    });
  });

  describe('precedence (cli/command/cli.go resolveContextName)', () => {
    const files = {
      ...SOCKET,
      ...config({ currentContext: 'current' }),
      ...contextFiles(CONFIG, 'current', { Host: 'tcp://10.0.0.1:2375' }),
      ...contextFiles(CONFIG, 'chosen', { Host: 'tcp://10.0.0.2:2375' }),
    };

    it('DOCKER_HOST wins over DOCKER_CONTEXT and currentContext: the "default" context with that host', () => {
      const endpoint = resolve({ DOCKER_HOST: 'tcp://10.0.0.9:2375', DOCKER_CONTEXT: 'chosen' }, files);
      assert.equal(endpoint.host, 'tcp://10.0.0.9:2375');
      assert.equal(endpoint.origin, 'from DOCKER_HOST');
      assert.equal(resolve({ DOCKER_HOST: 'tcp://10.0.0.9:2375' }, files).host, 'tcp://10.0.0.9:2375');
    });

    it('DOCKER_HOST does not even read config.json or the context store', () => {
      const probe = memoryFiles({ [`${CONFIG}/config.json`]: 'not json' });
      resolveEngineEndpoint({ env: { DOCKER_HOST: 'tcp://10.0.0.9:2375' }, home: HOME, platform: 'linux', files: probe });
      assert.deepEqual(probe.reads, []);
    });

    it('DOCKER_CONTEXT wins over currentContext', () => {
      const endpoint = resolve({ DOCKER_CONTEXT: 'chosen' }, files);
      assert.equal(endpoint.host, 'tcp://10.0.0.2:2375');
      assert.match(endpoint.origin, /^from docker context 'chosen', named by DOCKER_CONTEXT, in /);
    });

    it('an empty DOCKER_HOST or DOCKER_CONTEXT counts as unset', () => {
      assert.equal(resolve({ DOCKER_HOST: '', DOCKER_CONTEXT: '' }, files).host, 'tcp://10.0.0.1:2375');
    });

    it("the context named 'default' is the default endpoint, whoever names it", () => {
      const endpoint = resolve({ DOCKER_CONTEXT: 'default' }, files);
      assert.equal(endpoint.host, 'unix:///var/run/docker.sock');
      assert.match(endpoint.origin, /^at the default socket \(docker context 'default', named by DOCKER_CONTEXT;/);
      assert.equal(resolve({}, { ...SOCKET, ...config({ currentContext: 'default' }) }).host, 'unix:///var/run/docker.sock');
    });

    it('no currentContext (or an empty one) is the default endpoint', () => {
      assert.equal(resolve({}, { ...SOCKET, ...config({ auths: {} }) }).host, 'unix:///var/run/docker.sock');
      assert.equal(resolve({}, { ...SOCKET, ...config({ currentContext: '' }) }).host, 'unix:///var/run/docker.sock');
    });
  });
});
