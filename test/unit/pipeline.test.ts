import { strict as assert } from 'node:assert';
import { defang } from '../../shared/src/pipeline/defang';
import {
  InputError,
  inputsFromMap,
  readBool,
  readInt,
  readKeyValueLines,
  readMultiLine,
  readPick,
  readRequired,
  readString,
} from '../../shared/src/pipeline/inputs';
import { registryHostFromUrl } from '../../shared/src/pipeline/connection';

describe('defang', () => {
  it('neutralises ##vso[ and ##[ anywhere in a line, in any case', () => {
    const hostile = 'ok ##vso[task.setvariable variable=x]1 and ##VsO[task.complete result=Failed] ##[error]boom';
    const safe = defang(hostile);
    assert.doesNotMatch(safe, /##(vso)?\[/i);
    assert.equal(safe, 'ok # #vso[task.setvariable variable=x]1 and # #VsO[task.complete result=Failed] # #[error]boom');
  });
  it('handles every line of a multi-line text and leaves ordinary text alone', () => {
    assert.equal(defang('a\n##vso[x]\r\n##[group]'), 'a\n# #vso[x]\r\n# #[group]');
    assert.equal(defang('# heading ## two [x]'), '# heading ## two [x]');
  });
});

describe('input readers', () => {
  const inputs = inputsFromMap({
    name: '  app  ',
    flag: 'TRUE',
    bad: 'yes',
    count: '42',
    lines: ' a \n\n b\r\n',
    pick: 'buildkit',
    env: 'A=1\n# comment\nB=x=y\n',
    badEnv: 'A=1\nnot a pair',
  });
  it('trims strings and falls back when empty', () => {
    assert.equal(readString(inputs, 'name'), 'app');
    assert.equal(readString(inputs, 'missing', 'fallback'), 'fallback');
    assert.throws(() => readRequired(inputs, 'missing'), /input 'missing' is required/);
  });
  it('reads booleans strictly, naming the input and value', () => {
    assert.equal(readBool(inputs, 'flag'), true);
    assert.equal(readBool(inputs, 'missing', true), true);
    assert.throws(
      () => readBool(inputs, 'bad'),
      (error: Error) => error instanceof InputError && /input 'bad' must be true or false, got 'yes'/.test(error.message),
    );
  });
  it('reads bounded integers', () => {
    assert.equal(readInt(inputs, 'count', 1), 42);
    assert.throws(() => readInt(inputs, 'count', 1, { max: 10 }), /input 'count' must be at most 10/);
    assert.throws(() => readInt(inputs, 'name', 1), /whole number, got 'app'/);
  });
  it('reads multi-line inputs, pick lists and KEY=VALUE lines', () => {
    assert.deepEqual(readMultiLine(inputs, 'lines'), ['a', 'b']);
    assert.equal(readPick(inputs, 'pick', ['auto', 'buildkit', 'classic'] as const, 'auto'), 'buildkit');
    assert.throws(() => readPick(inputs, 'name', ['auto', 'classic'] as const, 'auto'), /must be one of auto, classic, got 'app'/);
    assert.deepEqual(readKeyValueLines(inputs, 'env'), { A: '1', B: 'x=y' });
    assert.throws(() => readKeyValueLines(inputs, 'badEnv'), /input 'badEnv' has a line that is not KEY=VALUE: 'not a pair'/);
  });
});

describe('registry host from a service connection URL', () => {
  it('maps Docker Hub URLs to docker.io and keeps other hosts and ports', () => {
    assert.equal(registryHostFromUrl('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(registryHostFromUrl('myrepo.azurecr.io'), 'myrepo.azurecr.io');
    assert.equal(registryHostFromUrl('http://127.0.0.1:5000/'), '127.0.0.1:5000');
    assert.equal(registryHostFromUrl('https://MyRepo.AzureCR.io/'), 'myrepo.azurecr.io');
    assert.equal(registryHostFromUrl(''), undefined);
  });
});
