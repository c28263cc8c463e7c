// The pipeline runner that drives examples/delivery (test/support/pipeline.ts) holds to what Azure Pipelines does,
// per the docs it cites: step and job conditions, output variables within a job, across jobs and across stages
// (a runOnce deployment's under `<job>.<step>.<var>`: learn.microsoft.com/azure/devops/pipelines/process/deployment-jobs
// "Support for output variables"), runtime expressions, artifacts, triggers, and it refuses what it does not emulate.
// Pipelines of bash steps only (without `set -e` a script fails only by its last command, as on the agent): no engine,
// no registry.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeStep, runPipeline, skippedSteps, type PipelineRun, type PipelineRunOptions } from '../support/pipeline';

describe('the pipeline runner (Azure Pipelines semantics, bash steps only)', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-runner-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const run = (pipeline: string, extra: Partial<PipelineRunOptions> = {}): Promise<PipelineRun> => {
    const file = path.join(root, 'azure-pipelines.yml');
    fs.writeFileSync(file, pipeline);
    return runPipeline({
      file,
      variables: { 'Build.BuildId': '7', 'Build.Reason': 'IndividualCI', 'Build.SourceBranch': 'refs/heads/release/app/2.0.1' },
      changedPaths: ['app/main.sh'],
      checkout: (sources) => fs.writeFileSync(path.join(sources, 'checked-out'), 'yes'),
      serviceConnections: {},
      workRoot: fs.mkdtempSync(path.join(root, 'work-')),
      approve: () => true,
      ...extra,
    });
  };

  it('hands outputs on within a job, to a later stage, and from a runOnce deployment; downloads what a job published', async () => {
    const result = await run(`
trigger:
  branches:
    include: [release/app/*]
variables:
  base: registry.example
  image: $(base)/app:$(Build.SourceBranchName)
stages:
  - stage: ci
    jobs:
      - job: build
        steps:
          - bash: |
              set -e
              test -f checked-out
              echo "##vso[task.setvariable variable=digest;isOutput=true]sha256:abc"
              mkdir -p out && echo "$IMAGE" > out/image.txt
              echo "##vso[artifact.upload artifactname=lock]$PWD/out/image.txt"
            name: push
          - bash: test "$(push.digest)" = sha256:abc && test "$PUSH_DIGEST" = sha256:abc
            name: same_job
  - stage: cd
    jobs:
      - deployment: prod
        environment: app-prod
        variables:
          digest: $[ stageDependencies.ci.build.outputs['push.digest'] ]
        strategy:
          runOnce:
            deploy:
              steps:
                - bash: |
                    set -e
                    test ! -e "$(Build.SourcesDirectory)/checked-out"
                    test "$(cat "$(Pipeline.Workspace)/lock/image.txt")" = registry.example/app:2.0.1
                    echo "##vso[task.setvariable variable=where;isOutput=true]$(digest)@prod"
                  name: deploy_step
      - job: after
        dependsOn: prod
        variables:
          where: $[ dependencies.prod.outputs['prod.deploy_step.where'] ]
        steps:
          - bash: test "$(where)" = sha256:abc@prod
            name: check
`);
    assert.equal(result.result, 'Succeeded', result.steps.map((s) => `${describeStep(s)}\n${s.output ?? ''}`).join('\n'));
    assert.deepEqual(
      result.steps.map((s) => [s.stage, s.job, s.label, s.result]),
      [
        ['ci', 'build', 'push', 'Succeeded'],
        ['ci', 'build', 'same_job', 'Succeeded'],
        ['cd', 'prod', 'download current', 'Succeeded'],
        ['cd', 'prod', 'deploy_step', 'Succeeded'],
        ['cd', 'after', 'check', 'Succeeded'],
      ],
    );
    assert.ok(result.notes.some((n) => /deployment prod: no download step, so the deploy hook downloads every artifact first/.test(n)));
    assert.ok(result.notes.includes('CI trigger admits refs/heads/release/app/2.0.1'));
  });

  it('skips steps, jobs and stages as conditions say, and lists every skipped step with the reason', async () => {
    const result = await run(`
stages:
  - stage: one
    jobs:
      - job: a
        steps:
          - bash: exit 3
            name: breaks
          - bash: echo never
            name: after_failure
          - bash: echo reports
            name: reporter
            condition: succeededOrFailed()
          - bash: echo only on main
            name: main_only
            condition: and(succeededOrFailed(), eq(variables['Build.SourceBranch'], 'refs/heads/main'))
          - task: HelmDeploy@0
            condition: always()
            inputs:
              chartVersion: $(Build.BuildId)
  - stage: two
    jobs:
      - job: b
        steps:
          - bash: echo not reached
`);
    assert.equal(result.result, 'Failed');
    assert.deepEqual(
      result.steps.map((s) => [s.label, s.result, s.skipped]),
      [
        ['breaks', 'Failed', undefined],
        ['after_failure', 'Skipped', 'condition succeeded() is false'],
        ['reporter', 'Succeeded', undefined],
        ['main_only', 'Skipped', "condition and(succeededOrFailed(), eq(variables['Build.SourceBranch'], 'refs/heads/main')) is false"],
        ['HelmDeploy@0', 'Skipped', "HelmDeploy@0 is not one of this repository's tasks: not run here"],
      ],
    );
    assert.equal(skippedSteps(result).length, 3);
    assert.deepEqual(result.steps.at(-1)!.inputs, { chartVersion: '7' }, 'a task that is not run still shows the inputs it would get');
    assert.deepEqual(
      result.stages.map((s) => [s.name, s.result]),
      [
        ['one', 'Failed'],
        ['two', 'Skipped'],
      ],
    );
  });

  it('queues only what the triggers admit, and refuses what it does not emulate', async () => {
    const steps = `
stages:
  - stage: s
    jobs:
      - job: j
        steps:
          - bash: echo hi
`;
    await assert.rejects(
      run(`trigger:\n  branches:\n    include: [main]\n${steps}`),
      /CI branch filters leave out refs\/heads\/release\/app\/2\.0\.1/,
    );
    await assert.rejects(run(`trigger:\n  paths:\n    include: [docs/]\n${steps}`), /CI path filters leave out app\/main\.sh/);
    await assert.rejects(run(`trigger:\n  paths:\n    exclude: [app/]\n${steps}`), /CI path filters leave out app\/main\.sh/);
    assert.equal((await run(`trigger:\n  paths:\n    exclude: [docs/]\n${steps}`)).result, 'Succeeded');
    await assert.rejects(
      run(`pr:\n  branches:\n    include: [main]\n${steps}`, {
        variables: { 'Build.Reason': 'PullRequest', 'System.PullRequest.TargetBranch': 'refs/heads/develop' },
      }),
      /pull request branch filters leave out refs\/heads\/develop/,
    );
    await assert.rejects(
      run(steps.replace('- bash: echo hi', '- bash: echo hi\n            retryCountOnTaskFailure: 2')),
      /does not emulate 'retryCountOnTaskFailure'/,
    );
    await assert.rejects(run(steps.replace('      - job: j', '      - job: j\n        container: ubuntu')), /does not emulate 'container'/);
    await assert.rejects(run(`variables:\n  - group: secrets\n${steps}`), /does not emulate variable groups/);
    await assert.rejects(run(steps.replace('echo hi', 'echo ${{ variables.x }}')), /does not emulate the template expression/);
    await assert.rejects(run(steps.replace('echo hi', 'echo ${{ parameters.missing }}')), /parameter 'missing', which it does not declare/);
  });

  it('takes queue-time parameters, and fails a step whose artifact.upload the agent would refuse', async () => {
    const result = await run(
      `
parameters:
  - name: registry
    type: string
    default: myrepo.azurecr.io
variables:
  registry: \${{ parameters.registry }}
stages:
  - stage: s
    jobs:
      - job: j
        steps:
          - bash: test "$(registry)" = 127.0.0.1:5000
            name: param
          - bash: echo "##vso[artifact.upload artifactname=missing]$(Agent.TempDirectory)/nothing-here"
            name: upload
`,
      { parameters: { registry: '127.0.0.1:5000' } },
    );
    assert.deepEqual(
      result.steps.map((s) => [s.label, s.result]),
      [
        ['param', 'Succeeded'],
        ['upload', 'Failed'],
      ],
    );
    assert.match(result.steps[1].output!, /artifact\.upload of missing: .*nothing-here does not exist/);
    await assert.rejects(run('parameters: []\nstages: []\n', { parameters: { other: 'x' } }), /declares no parameter 'other'/);
  });
});
