import { readBool, readMultiLine, readRegistryConnection, readRequired, readString, type InputSource } from '../../../shared/src/pipeline';
import type { PromoteImageOptions } from '../../../shared/src/registry';

/** Every input of PromoteImage@1, as the core's options (the transport is the adapter's to add). */
export function readPromoteImageInputs(inputs: InputSource): Omit<PromoteImageOptions, 'transport'> {
  return {
    sourceImage: readRequired(inputs, 'sourceImage'),
    targetImage: readString(inputs, 'targetImage'),
    targetNamespace: readString(inputs, 'targetNamespace', 'prod'),
    additionalTags: readMultiLine(inputs, 'additionalTags'),
    allowOverwrite: readBool(inputs, 'allowOverwrite'),
    containerRegistry: readRegistryConnection(inputs, 'containerRegistry'),
    targetContainerRegistry: readRegistryConnection(inputs, 'targetContainerRegistry'),
  };
}
