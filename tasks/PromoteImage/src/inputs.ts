import {
  readBool,
  readMultiLine,
  readRegistryLogin,
  readRequired,
  readString,
  SIGN_IN_INPUTS,
  TARGET_SIGN_IN_INPUTS,
  type InputSource,
} from '../../../shared/src/pipeline';
import type { PromoteImageOptions } from '../../../shared/src/registry';

/** Every input of PromoteImage@1, as the core's options (the transport is the adapter's to add). */
export function readPromoteImageInputs(inputs: InputSource): Omit<PromoteImageOptions, 'transport'> {
  return {
    sourceImage: readRequired(inputs, 'sourceImage'),
    targetImage: readString(inputs, 'targetImage'),
    targetNamespace: readString(inputs, 'targetNamespace', 'prod'),
    additionalTags: readMultiLine(inputs, 'additionalTags'),
    allowOverwrite: readBool(inputs, 'allowOverwrite'),
    // Each side signs in one way: a Docker Registry connection, or an AzureRM connection with its registry.
    containerRegistry: readRegistryLogin(inputs, SIGN_IN_INPUTS),
    targetContainerRegistry: readRegistryLogin(inputs, TARGET_SIGN_IN_INPUTS),
  };
}
