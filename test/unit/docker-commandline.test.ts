import { strict as assert } from 'node:assert';
import { splitCommandLine } from '../../shared/src/docker/run';

describe('command override words', () => {
  it('splits like a shell for a simple command, without expansion', () => {
    assert.deepEqual(splitCommandLine('  sh   /tests/run.sh  --filter "a b" \'$HOME c\' x\\ y "q\\"d" '), [
      'sh',
      '/tests/run.sh',
      '--filter',
      'a b',
      '$HOME c',
      'x y',
      'q"d',
    ]);
    assert.deepEqual(splitCommandLine('echo ""'), ['echo', '']);
    assert.deepEqual(splitCommandLine(''), []);
  });
  it('refuses an unterminated quote', () => {
    assert.throws(() => splitCommandLine('sh -c "echo'), /unterminated "/);
    assert.throws(() => splitCommandLine("sh -c 'echo"), /unterminated '/);
  });
});
