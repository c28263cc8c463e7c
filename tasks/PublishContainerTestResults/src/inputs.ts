import { readBool, readMultiLine, readPath, readPick, readString, type InputSource } from '../../../shared/src/pipeline';
import type { FormatChoice, PipelineNode, RunOrigin } from '../../../shared/src/testresults';

type Variables = { get(name: string): string | undefined };

const FORMATS = ['auto', 'JUnit', 'VSTest', 'NUnit', 'XUnit', 'CTest'] as const;
const MODES = ['api', 'agent'] as const;

export interface PublishContainerTestResultsInputs {
  patterns: string[];
  searchFolder: string;
  format: FormatChoice;
  runTitle?: string;
  mergeResults: boolean;
  failOnFailedTests: boolean;
  failOnMissingFiles: boolean;
  publishRunAttachments: boolean;
  buildPlatform?: string;
  buildConfiguration?: string;
  publishMode: (typeof MODES)[number];
  /** Where the job runs in the pipeline, from the variables the agent sets for it. */
  origin: RunOrigin;
}

/** A positive whole number the agent wrote into a variable, or undefined. */
function positive(value: string | undefined): number | undefined {
  const n = Number(value?.trim());
  return value?.trim() && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * The build, stage, phase and job the task runs in, as the agent sets them for every job (`Build.BuildId`,
 * `System.DefinitionId`, `System.StageName`, `System.StageDisplayName`, `System.StageAttempt`, and the same for
 * Phase and Job): the variables PublishTestResults@2's pipeline reference is made of.
 */
export function readRunOrigin(variables: Variables): RunOrigin {
  const node = (kind: 'Stage' | 'Phase' | 'Job'): PipelineNode | undefined => {
    const name = variables.get(`System.${kind}Name`)?.trim();
    if (!name) return undefined;
    return {
      name,
      displayName: variables.get(`System.${kind}DisplayName`)?.trim() || undefined,
      attempt: positive(variables.get(`System.${kind}Attempt`)),
    };
  };
  return {
    buildId: positive(variables.get('Build.BuildId')),
    definitionId: positive(variables.get('System.DefinitionId')),
    stage: node('Stage'),
    phase: node('Phase'),
    job: node('Job'),
  };
}

/** Every input of PublishContainerTestResults@1, checked before any file is read or anything is published. */
export function readPublishContainerTestResultsInputs(inputs: InputSource, variables: Variables): PublishContainerTestResultsInputs {
  const workingDirectory = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  return {
    patterns: readMultiLine(inputs, 'testResultsFiles'),
    searchFolder: readPath(inputs, 'searchFolder', workingDirectory, workingDirectory)!,
    format: readPick(inputs, 'testResultsFormat', FORMATS, 'auto').toLowerCase() as FormatChoice,
    runTitle: readString(inputs, 'testRunTitle'),
    mergeResults: readBool(inputs, 'mergeTestResults', true),
    failOnFailedTests: readBool(inputs, 'failTaskOnFailedTests'),
    failOnMissingFiles: readBool(inputs, 'failTaskOnMissingResultsFile'),
    publishRunAttachments: readBool(inputs, 'publishRunAttachments', true),
    buildPlatform: readString(inputs, 'buildPlatform'),
    buildConfiguration: readString(inputs, 'buildConfiguration'),
    publishMode: readPick(inputs, 'publishMode', MODES, 'api'),
    origin: readRunOrigin(variables),
  };
}
