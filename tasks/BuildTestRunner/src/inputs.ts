import * as fs from 'node:fs';
import * as path from 'node:path';
import { ociLabels, type BuildImageOptions, type BuilderChoice } from '../../../shared/src/docker/build';
import { dockerfileStages, targetProblem } from '../../../shared/src/docker/dockerfile';
import type { Log } from '../../../shared/src/log';
import {
  InputError, readBool, readKeyValueLines, readPick, readRegistryConnection, readString, type InputSource,
} from '../../../shared/src/pipeline';
import { InvalidReferenceError, parseReference } from '../../../shared/src/reference';

type Variables = { get(name: string): string | undefined };

const unexpandedMacro = /\$\([^)]*\)/;

/** A path input rooted at the job's working directory, as the agent roots filePath inputs. */
function readPathInput(inputs: InputSource, name: string, base: string): string | undefined {
  const value = readString(inputs, name);
  if (value === undefined) return undefined;
  if (unexpandedMacro.test(value)) throw new InputError(name, `holds '${value}', a variable this job does not define: set the input to a path`);
  return path.resolve(base, value);
}

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
 * holds the repository's name as written (`My.Repo`, `Team Service`), and repository names are lower case. The host
 * is lower-cased, each path segment lower-cased with other characters turned into `-`, the tag kept but for
 * characters a tag cannot hold. Throws InputError when nothing valid is left.
 */
export function normalizeImageName(value: string): string {
  const text = value.trim();
  if (unexpandedMacro.test(text)) {
    throw new InputError('imageName', `is '${text}', which names a variable this job does not define: set imageName to name:tag`);
  }
  if (text.includes('@')) throw new InputError('imageName', `is '${text}': a built image is tagged, not pinned; give name:tag`);
  let name = text;
  let tag: string | undefined;
  const colon = text.lastIndexOf(':');
  if (colon > text.lastIndexOf('/')) {
    name = text.slice(0, colon);
    tag = text
      .slice(colon + 1)
      .replace(/[^\w.-]+/g, '-')
      .replace(/^[.-]+/, '')
      .slice(0, 128);
  }
  const segments = name.split('/');
  const first = segments[0];
  const host = segments.length > 1 && (first.includes('.') || first.includes(':') || first.toLowerCase() === 'localhost') ? segments.shift()!.toLowerCase() : undefined;
  const repository = segments.map(pathComponent).filter(Boolean).join('/');
  const result = `${host ? `${host}/` : ''}${repository}${tag ? `:${tag}` : ''}`;
  try {
    parseReference(result);
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : (error as Error).message;
    throw new InputError('imageName', `is '${text}', which is not an image name even made lower case (${reason})`);
  }
  return result;
}

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
export function readBuildTestRunnerInputs(inputs: InputSource, variables: Variables, log: Log): BuildImageOptions {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  const dockerfile = readPathInput(inputs, 'dockerfile', base) ?? path.resolve(base, 'Dockerfile');
  let text: string;
  try {
    text = fs.readFileSync(dockerfile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError('dockerfile', code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR'
      ? `names '${dockerfile}', which is not a file: set it to the Dockerfile's path (relative to ${base})`
      : `names '${dockerfile}', which cannot be read: ${(error as Error).message}`);
  }
  const target = readString(inputs, 'target');
  const stages = dockerfileStages(text);
  if (stages.length === 0) throw new InputError('dockerfile', `names '${dockerfile}', which has no FROM instruction`);
  const problem = targetProblem(stages, target);
  if (problem) throw new InputError('target', `is '${target}', but Dockerfile '${dockerfile}' ${problem}`);

  const context = readPathInput(inputs, 'buildContext', base) ?? path.dirname(dockerfile);
  if (!fs.statSync(context, { throwIfNoEntry: false })?.isDirectory()) {
    throw new InputError('buildContext', `names '${context}', which is not a folder`);
  }

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
  const connection = readRegistryConnection(inputs, 'containerRegistry');
  return {
    dockerfile,
    context,
    target,
    imageName,
    buildArgs: readKeyValueLines(inputs, 'buildArguments'),
    labels: { ...pipelineLabels, ...labels },
    pull: readBool(inputs, 'pull'),
    noCache: readBool(inputs, 'noCache'),
    network: readString(inputs, 'network'),
    builder: readPick<BuilderChoice>(inputs, 'builder', ['auto', 'buildkit', 'classic'], 'auto'),
    logins: connection ? [connection] : [],
  };
}
