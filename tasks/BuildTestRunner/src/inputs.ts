import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BuildError,
  ociLabels,
  type BuildImageOptions,
  type BuilderChoice,
  readDockerignore,
  DockerignoreError,
  dockerfileStages,
  targetProblem,
} from '../../../shared/src/docker';
import {
  type Log,
  InputError,
  inputOfLogin,
  readBool,
  readKeyValueLines,
  readPick,
  readRegistryLogin,
  readString,
  type InputSource,
  readPath,
} from '../../../shared/src/pipeline';
import type { RegistryLogin } from '../../../shared/src/registry';
import {
  characterProblem,
  InvalidReferenceError,
  parseReference,
  printable,
  sameRegistry,
  tagProblem,
} from '../../../shared/src/reference';

type Variables = { get(name: string): string | undefined };

/** One path segment made valid: lower case, other characters → `-`, separators as the grammar allows them. */
function pathComponent(segment: string): string {
  return segment
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, (run) => (/^(__|-+)$/.test(run) ? run : '-'))
    .replace(/^[._-]+|[._-]+$/g, '');
}

/**
 * `imageName` made a reference the engine can tag with: the default `$(Build.Repository.Name)-testrunner:$(Build.BuildId)`
 * holds the repository's name as written (`My.Repo`, `Team Service`), and repository names are lower case. As
 * documented, the host is lower-cased and each path segment lower-cased with other ASCII characters turned into `-`.
 * Nothing else is rewritten: a non-ASCII letter (a look-alike would name another image), a control character or a
 * tag that is not valid (too long, wrong characters) is refused, naming imageName.
 */
export function normalizeImageName(value: string): string {
  const text = value.trim();
  const refuse = (reason: string) => new InputError('imageName', `is '${printable(text)}', which is not an image name: ${reason}`);
  const characters = characterProblem(text);
  if (characters) throw refuse(characters);
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text);
  if (scheme) throw refuse(`drop the '${scheme[0]}' prefix`);
  if (text.includes('@')) throw new InputError('imageName', `is '${printable(text)}': a built image is tagged, not pinned; give name:tag`);
  let name = text;
  let tag: string | undefined;
  const colon = text.lastIndexOf(':');
  if (colon > text.lastIndexOf('/')) {
    name = text.slice(0, colon);
    tag = text.slice(colon + 1);
    const problem = tagProblem(tag);
    if (problem) throw refuse(problem);
  }
  const segments = name.split('/');
  const first = segments[0];
  const host =
    segments.length > 1 && (first.includes('.') || first.includes(':') || first.toLowerCase() === 'localhost')
      ? segments.shift()!.toLowerCase()
      : undefined;
  const repository = segments.map(pathComponent).filter(Boolean).join('/');
  const result = `${host ? `${host}/` : ''}${repository}${tag ? `:${tag}` : ''}`;
  try {
    parseReference(result);
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : (error as Error).message;
    throw new InputError('imageName', `is '${printable(text)}', which is not an image name even made lower case (${reason})`);
  }
  return result;
}

/**
 * The build context: a folder, not the file system's root (packing it would walk every file on the machine), with a
 * `.dockerignore` whose every line Docker would accept.
 */
function readBuildContext(inputs: InputSource, base: string, dockerfile: string): string {
  const given = readPath(inputs, 'buildContext', undefined, base);
  const context = given ?? path.dirname(dockerfile);
  const names = given ? `names '${context}'` : `is empty, so the context is the Dockerfile's folder '${context}'`;
  if (!fs.statSync(context, { throwIfNoEntry: false })?.isDirectory())
    throw new InputError('buildContext', `${names}, which is not a folder`);
  const real = fs.realpathSync(context);
  if (path.parse(real).root === real) {
    throw new InputError(
      'buildContext',
      `${names}, the file system root: every file on the machine would be sent to the engine; name the folder the Dockerfile's COPY and ADD read from`,
    );
  }
  try {
    readDockerignore(context);
  } catch (error) {
    if (error instanceof DockerignoreError)
      throw new InputError('buildContext', `holds a .dockerignore line Docker would refuse: ${error.message}`);
    throw new InputError('buildContext', `holds a .dockerignore that cannot be read: ${(error as Error).message}`);
  }
  return context;
}

/** The build's failure as an error naming the input at fault, when one is (the core's options are named after them). */
export function namingInput(error: unknown, options: Pick<BuildTestRunnerInputs, 'logins'>): unknown {
  if (!(error instanceof BuildError) || !error.blame) return error;
  const { option, problem, registry } = error.blame;
  if (option === 'network') return new InputError('network', problem);
  if (option === 'context') return new InputError('buildContext', problem);
  const login = options.logins?.[0];
  if (!login)
    return new InputError(
      'containerRegistry',
      `is empty, but registry ${registry} refused the base image to a build without credentials: set it to a service connection for ${registry} (${problem})`,
    );
  const input = inputOfLogin(login) ?? 'containerRegistry';
  if (registry && !sameRegistry(login.host, registry)) {
    return new InputError(
      input,
      `is for ${login.host}, but the base image comes from ${registry}, which refused it: use a service connection for ${registry} (${problem})`,
    );
  }
  return new InputError(
    input,
    `is for ${login.host}, which refused its credentials for the base image: check the service connection (${problem})`,
  );
}

/** The build's options, with the login as the service connection gives it (the engine's form is made in index.ts). */
export type BuildTestRunnerInputs = Omit<BuildImageOptions, 'logins'> & { logins: RegistryLogin[] };

/** `https://org@dev.azure.com/org/p/_git/r` → `https://dev.azure.com/org/p/_git/r`: a label is public, user info is not. */
function withoutUserInfo(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  try {
    const url = new URL(uri);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return uri;
  }
}

/**
 * Every input of BuildTestRunner@1, checked before the engine is asked anything: the Dockerfile and context exist,
 * the target is one of the Dockerfile's stages, build arguments and labels are KEY=VALUE lines.
 */
export function readBuildTestRunnerInputs(inputs: InputSource, variables: Variables, log: Log): BuildTestRunnerInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  const dockerfile = readPath(inputs, 'dockerfile', undefined, base) ?? path.resolve(base, 'Dockerfile');
  let text: string;
  try {
    text = fs.readFileSync(dockerfile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      'dockerfile',
      code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR'
        ? `names '${dockerfile}', which is not a file: set it to the Dockerfile's path (relative to ${base})`
        : `names '${dockerfile}', which cannot be read: ${(error as Error).message}`,
    );
  }
  const target = readString(inputs, 'target');
  const stages = dockerfileStages(text);
  if (stages.length === 0) throw new InputError('dockerfile', `names '${dockerfile}', which has no FROM instruction`);
  const problem = targetProblem(stages, target);
  if (problem) throw new InputError('target', `is '${printable(target ?? '')}', but Dockerfile '${dockerfile}' ${problem}`);

  const context = readBuildContext(inputs, base, dockerfile);

  const given = readString(inputs, 'imageName');
  if (!given) throw new InputError('imageName', 'is required: the name:tag to give the built image');
  const imageName = normalizeImageName(given);
  if (imageName !== given) log.info(`imageName '${given}' is used as '${imageName}' (image names are lower case)`);

  const labels = readKeyValueLines(inputs, 'labels');
  const pipelineLabels = readBool(inputs, 'addPipelineLabels', true)
    ? ociLabels({
        revision: variables.get('Build.SourceVersion'),
        source: withoutUserInfo(variables.get('Build.Repository.Uri')),
        version: variables.get('Build.BuildNumber'),
      })
    : {};
  const network = readString(inputs, 'network');
  if (network !== undefined && /[\s\0-\x1f\x7f]/.test(network))
    throw new InputError('network', `is '${printable(network)}', which is not a network name (it holds white space)`);
  // A Docker Registry connection, or an AzureRM connection with its registry, for private base images.
  const connection = readRegistryLogin(inputs);
  return {
    dockerfile,
    context,
    target,
    imageName,
    buildArgs: readKeyValueLines(inputs, 'buildArguments'),
    labels: { ...pipelineLabels, ...labels },
    pull: readBool(inputs, 'pull'),
    noCache: readBool(inputs, 'noCache'),
    network,
    builder: readPick<BuilderChoice>(inputs, 'builder', ['auto', 'buildkit', 'classic'], 'auto'),
    logins: connection ? [connection] : [],
  };
}
