import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerfileStages, targetProblem } from '../../shared/src/docker/dockerfile';
import { sampleServiceSource } from '../fixtures/sample-service/stage';

describe('Dockerfile stages', () => {
  it('lists the sample service stages in order', () => {
    const stages = dockerfileStages(fs.readFileSync(path.join(sampleServiceSource, 'Dockerfile'), 'utf8'));
    assert.deepEqual(
      stages.map((s) => s.name),
      ['base', 'build', 'testrunner', 'final'],
    );
    assert.deepEqual(
      stages.map((s) => s.base),
      ['scratch', 'base', 'build', 'base'],
    );
  });

  it('reads flags, case, continuations, comments and the escape directive', () => {
    const text = [
      '# escape=`',
      '# a comment',
      'ARG BASE=scratch',
      'from --platform=$BUILDPLATFORM ${BASE} As Builder',
      'RUN echo a `',
      '  # comment inside a continuation',
      '  && echo b',
      'FROM `',
      '  builder AS Test-Runner',
      'FROM builder',
    ].join('\n');
    const stages = dockerfileStages(text);
    assert.deepEqual(
      stages.map((s) => [s.index, s.name, s.base, s.line]),
      [
        [0, 'builder', '${BASE}', 4],
        [1, 'test-runner', 'builder', 8],
        [2, undefined, 'builder', 10],
      ],
    );
  });

  it('accepts a known target by name (any case) or index, and an empty target', () => {
    const stages = dockerfileStages('FROM scratch AS base\nFROM base AS testrunner\n');
    assert.equal(targetProblem(stages, 'TestRunner'), undefined);
    assert.equal(targetProblem(stages, '0'), undefined);
    assert.equal(targetProblem(stages, ''), undefined);
    assert.equal(targetProblem(stages, undefined), undefined);
  });

  it('names the stages there are when the target is unknown, and a Dockerfile without FROM', () => {
    const stages = dockerfileStages('FROM scratch AS base\nFROM base AS testrunner\n');
    assert.equal(targetProblem(stages, 'tests'), "has no stage named 'tests' (its stages: base, testrunner)");
    assert.match(targetProblem(dockerfileStages('FROM scratch\n'), 'testrunner')!, /none of its stages has a name/);
    assert.equal(targetProblem(dockerfileStages('RUN true\n'), undefined), 'has no FROM instruction');
  });
});
