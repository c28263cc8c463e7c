import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from '../../shared/src/docker/build';
import {
  canonicalRegistryHost, connectEngine, describeEngine, engineAddress, engineMessage, engineServerAddress, EngineUnreachableError, loginFor,
} from '../../shared/src/docker/engine';
import { runTests } from '../../shared/src/docker/run';
import { memoryLog } from '../../shared/src/log';

describe('engine connection', () => {
  it('follows DOCKER_HOST like the docker CLI: default socket, unix://, tcp:// and TLS', () => {
    assert.equal(engineAddress(connectEngine({})), 'unix:///var/run/docker.sock');
    assert.equal(engineAddress(connectEngine({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })), 'unix:///run/user/1000/docker.sock');
    assert.equal(engineAddress(connectEngine({ DOCKER_HOST: 'tcp://10.0.0.5:2375' })), 'http://10.0.0.5:2375');
    assert.equal(engineAddress(connectEngine({ DOCKER_HOST: 'tcp://engine.example:2376' })), 'https://engine.example:2376');
    assert.equal(engineAddress(connectEngine({ DOCKER_HOST: 'engine.example:2375', DOCKER_TLS_VERIFY: '1' })), 'https://engine.example:2375');
    assert.throws(() => connectEngine({ DOCKER_HOST: 'tcp://[bad' }), /DOCKER_HOST 'tcp:\/\/\[bad' is not an engine address/);
  });

  describe('when the engine is not there', () => {
    const socket = path.join(os.tmpdir(), `outerloop-no-engine-${process.pid}.sock`);
    const docker = connectEngine({ DOCKER_HOST: `unix://${socket}` });

    it('says where it looked, in one line', async () => {
      await assert.rejects(describeEngine(docker), (e: Error) => e instanceof EngineUnreachableError && e.message.startsWith(`the Docker engine at unix://${socket} is not reachable (`));
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
    assert.equal(engineMessage({ message: '(HTTP code 404) no such container - x', json: { message: 'No such container: abc' } }), 'No such container: abc');
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
