import { formatReference, parseReference, sameRegistry, type ImageReference } from '../reference/reference';
import { RegistryError } from './errors';
import { headManifest, type ManifestHead } from './manifest';
import type { RegistryClient } from './transport';

/**
 * The digest (and media type) a reference resolves to in the registry: a HEAD of the tag (or of the digest, which
 * then must exist). For a `tag@digest` reference the tag is asked and must point at that digest. Throws RegistryError
 * (404 MANIFEST_UNKNOWN when the registry has no such manifest), with `resolve <reference>` in front.
 */
export async function resolveDigest(client: RegistryClient, reference: ImageReference | string): Promise<ManifestHead> {
  const ref = typeof reference === 'string' ? parseReference(reference, { defaultRegistry: client.registry }) : reference;
  const text = formatReference(ref);
  if (!sameRegistry(ref.registry, client.registry)) {
    throw new Error(`resolve ${text}: the client is for ${client.registry}, not ${ref.registry}`);
  }
  const asked = ref.tag ?? ref.digest ?? 'latest';
  let head: ManifestHead | undefined;
  try {
    head = await headManifest(client, ref.repository, asked);
  } catch (error) {
    if (error instanceof RegistryError) throw error.withContext(`resolve ${text}`);
    throw error;
  }
  if (!head) {
    throw new RegistryError({
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      message: `${ref.registry} has no manifest ${ref.repository}${asked.startsWith('sha256:') ? '@' : ':'}${asked}`,
      context: `resolve ${text}`,
      temporary: false,
    });
  }
  if (ref.tag && ref.digest && head.digest !== ref.digest) {
    throw new RegistryError({
      status: 0,
      code: 'DIGEST_MISMATCH',
      message: `tag '${ref.tag}' points at ${head.digest}, not ${ref.digest}`,
      context: `resolve ${text}`,
      temporary: false,
    });
  }
  return head;
}
