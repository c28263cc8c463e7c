import { readBool, readMultiLine, readPath, readPick, readString, type InputSource } from '../../../shared/src/pipeline';
import type { FormatChoice } from '../../../shared/src/testresults';

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
  };
}
