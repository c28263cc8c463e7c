import { readBool, readMultiLine, readRegistryConnection, readRequired, readString, runTask } from '../../../shared/src/pipeline';
import { promoteImage } from '../../../shared/src/registry';

runTask(async ({ inputs, outputs, log, signal }) => {
  const result = await promoteImage(
    {
      sourceImage: readRequired(inputs, 'sourceImage'),
      targetImage: readString(inputs, 'targetImage'),
      targetNamespace: readString(inputs, 'targetNamespace', 'prod'),
      additionalTags: readMultiLine(inputs, 'additionalTags'),
      allowOverwrite: readBool(inputs, 'allowOverwrite'),
      containerRegistry: readRegistryConnection(inputs, 'containerRegistry'),
      targetContainerRegistry: readRegistryConnection(inputs, 'targetContainerRegistry'),
      transport: { signal },
    },
    log,
  );
  outputs.set('digest', result.digest);
  outputs.set('promotedImage', result.promotedImage);
});
