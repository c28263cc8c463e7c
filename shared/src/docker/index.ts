// The Docker engine layer, as the tasks see it: where the engine is, build, run, push, and the checks their inputs
// need before the engine is asked anything.
export { connectEngine, describeEngine, EngineUnreachableError, type RegistryLogin } from './engine';
export { buildImage, BuildError, ociLabels, type BuildImageOptions, type BuilderChoice, type BuiltImage } from './build';
export { runTests, splitCommandLine, networkProblem, DEFAULT_RESULTS_PATH, type RunTestsOptions, type TestRunResult } from './run';
export { pushByDigest, pushImage, PushError, type ConfirmDigest, type PushByDigestOptions, type PushedImage } from './push';
export { buildSummary, pushSummary, runSummary } from './summary';
export { readDockerignore } from './context';
export { DockerignoreError } from './dockerignore';
export { dockerfileStages, targetProblem } from './dockerfile';
