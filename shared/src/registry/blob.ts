import { createHash } from 'node:crypto';
import { sha256Digest, type Digest } from '../reference/reference';
import { repositoryScope } from './auth';
import { RegistryError } from './errors';
import { reportedDigest } from './manifest';
import { isRetryable, withRetry } from './retry';
import type { RegistryClient } from './transport';

/*
 * Blob operations: existence, cross-repository mount, monolithic upload, and streamed copy between registries.
 * Blobs are never held in memory whole when they come from another registry: the download is piped into the
 * upload through a hashing stream, and the registry checks the digest again when the upload completes.
 */

/** A registry client and a repository on it. */
export interface RepositoryOn {
  client: RegistryClient;
  repository: string;
}

/** The result of a mount attempt: mounted, or an upload session the registry opened instead (202). */
export type MountResult = { mounted: true } | { mounted: false; location: string };

function blobPath(repository: string, digest: string): string {
  return `/v2/${repository}/blobs/${digest}`;
}

/** True when `repository` has the blob (HEAD 200), false on 404. */
export async function blobExists(client: RegistryClient, repository: string, digest: Digest): Promise<boolean> {
  const response = await client.request({
    method: 'HEAD',
    path: blobPath(repository, digest),
    scopes: [repositoryScope(repository, ['pull'])],
    expect: [200, 404],
  });
  return response.status === 200;
}

function locationOf(response: { headers: Headers; url: string }, what: string): string {
  const location = response.headers.get('location');
  if (!location) {
    throw new RegistryError({
      status: 0,
      code: 'NO_LOCATION',
      message: `${what}: the registry opened an upload without a Location`,
      url: response.url,
      temporary: true,
    });
  }
  return new URL(location, response.url).toString();
}

/**
 * Mounts a blob from `from` into `repository` on the same registry (POST …/blobs/uploads/?mount=&from=). 201: the
 * blob is linked, nothing is transferred. 202: the registry cannot mount (blob unknown there, or mounting not
 * supported) and opened an upload session instead, whose location is returned so the caller uploads or cancels.
 */
export async function mountBlob(client: RegistryClient, repository: string, digest: Digest, from: string): Promise<MountResult> {
  const query = new URLSearchParams({ mount: digest, from }).toString();
  const response = await client.request({
    method: 'POST',
    path: `/v2/${repository}/blobs/uploads/?${query}`,
    scopes: [repositoryScope(repository, ['pull', 'push']), repositoryScope(from, ['pull'])],
    expect: [201, 202],
    // Mounting a blob twice, or opening a spare upload session, leaves the registry as it was: safe to repeat.
    idempotent: true,
  });
  if (response.status === 201) {
    const reported = reportedDigest(response.headers);
    if (reported && reported !== digest) {
      throw new RegistryError({
        status: 201,
        code: 'DIGEST_MISMATCH',
        message: `mount ${digest}: the registry mounted ${reported}`,
        url: response.url,
        method: 'POST',
        temporary: false,
      });
    }
    return { mounted: true };
  }
  return { mounted: false, location: locationOf(response, `mount ${digest} into ${repository}`) };
}

/** Opens an upload session in `repository` and returns its location. */
export async function startUpload(client: RegistryClient, repository: string): Promise<string> {
  const response = await client.request({
    method: 'POST',
    path: `/v2/${repository}/blobs/uploads/`,
    scopes: [repositoryScope(repository, ['pull', 'push'])],
    expect: [202],
    // A spare session is harmless (registries expire them).
    idempotent: true,
  });
  return locationOf(response, `start upload to ${repository}`);
}

/** Cancels an upload session (DELETE); failures are ignored, the registry expires abandoned sessions anyway. */
export async function cancelUpload(client: RegistryClient, repository: string, location: string): Promise<void> {
  await client
    .request({
      method: 'DELETE',
      path: location,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      expect: [200, 202, 204, 404],
      idempotent: false,
    })
    .catch(() => undefined);
}

/**
 * Completes an upload session with the whole blob in one PUT (`?digest=`), and checks the digest the registry
 * reports. A stream body is sent as it comes (give `size` for a Content-Length) and is not retried here.
 */
export async function completeUpload(
  client: RegistryClient,
  repository: string,
  location: string,
  digest: Digest,
  body: Uint8Array | ReadableStream<Uint8Array>,
  size?: number,
): Promise<void> {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  const length = body instanceof ReadableStream ? size : body.length;
  if (length !== undefined && length >= 0) headers['content-length'] = String(length);
  let sent = body instanceof ReadableStream ? 0 : body.length;
  const counted =
    body instanceof ReadableStream
      ? body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              sent += chunk.length;
              controller.enqueue(chunk);
            },
          }),
        )
      : body;
  const response = await client.request({
    method: 'PUT',
    path: url.toString(),
    scopes: [repositoryScope(repository, ['pull', 'push'])],
    headers,
    body: counted,
    expect: [201, 204],
  });
  client.stats.blobBytes += sent;
  const reported = reportedDigest(response.headers);
  if (reported && reported !== digest) {
    throw new RegistryError({
      status: response.status,
      code: 'DIGEST_MISMATCH',
      message: `upload ${digest}: the registry stored ${reported}`,
      url: response.url,
      method: 'PUT',
      temporary: false,
    });
  }
}

/**
 * Uploads bytes as a blob unless the repository has it already; resolves once the registry holds exactly these
 * bytes. Returns their digest.
 */
export async function pushBlob(client: RegistryClient, repository: string, bytes: Uint8Array): Promise<Digest> {
  const digest = sha256Digest(bytes);
  if (await blobExists(client, repository, digest)) return digest;
  const location = await startUpload(client, repository);
  try {
    await completeUpload(client, repository, location, digest, bytes);
  } catch (error) {
    // A PUT whose answer was lost may have completed: the retry then finds the session gone (404). Ask the registry.
    if (error instanceof RegistryError && error.status === 404 && (await blobExists(client, repository, digest))) return digest;
    throw error;
  }
  return digest;
}

/** Opens a blob for reading; the body is returned unread. Compressed transfer is refused so the bytes hash as stored. */
export async function getBlobStream(
  client: RegistryClient,
  repository: string,
  digest: Digest,
): Promise<{ body: ReadableStream<Uint8Array>; size?: number }> {
  const response = await client.requestStream({
    method: 'GET',
    path: blobPath(repository, digest),
    scopes: [repositoryScope(repository, ['pull'])],
    headers: { 'accept-encoding': 'identity' },
    expect: [200],
  });
  if (!response.body)
    throw new RegistryError({
      status: response.status,
      code: 'NO_BODY',
      message: `blob ${digest} came without a body`,
      url: response.url,
      method: 'GET',
    });
  const length = Number(response.headers.get('content-length') ?? NaN);
  return { body: response.body, ...(Number.isFinite(length) ? { size: length } : {}) };
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end when the bytes are not `digest`
 * (or not `size` long), so a corrupt download is never accepted as the blob.
 */
export function verifyingStream(digest: Digest, size?: number): TransformStream<Uint8Array, Uint8Array> {
  const hash = createHash('sha256');
  let seen = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk);
      seen += chunk.length;
      controller.enqueue(chunk);
    },
    flush(controller) {
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) controller.error(new Error(`blob ${digest}: the bytes received hash to ${actual}`));
      else if (size !== undefined && size >= 0 && seen !== size)
        controller.error(new Error(`blob ${digest}: ${seen} bytes received, ${size} expected`));
    },
  });
}

/** What `copyBlob` did. */
export type CopyOutcome = 'present' | 'copied';

/**
 * Copies a blob from one repository to another, possibly on another registry, streaming it (never buffered whole):
 * skipped when the target has it; else GET from the source piped through a digest check into a monolithic PUT. A
 * failed try cancels its session and the whole copy is retried (a stream cannot be replayed) under the target
 * client's retry policy. `session` is an upload location already open in the target (a mount answered 202).
 */
export async function copyBlob(
  source: RepositoryOn,
  target: RepositoryOn,
  descriptor: { digest: Digest; size?: number },
  session?: string,
): Promise<CopyOutcome> {
  let location = session;
  // Only a failure while streaming restarts the copy: the requests before it were retried on their own already.
  let streaming = false;
  return withRetry(
    async () => {
      streaming = false;
      if (!location) {
        if (await blobExists(target.client, target.repository, descriptor.digest)) return 'present';
        location = await startUpload(target.client, target.repository);
      }
      const open = location;
      location = undefined;
      try {
        const download = await getBlobStream(source.client, source.repository, descriptor.digest);
        const size = descriptor.size !== undefined && descriptor.size >= 0 ? descriptor.size : download.size;
        const body = download.body.pipeThrough(verifyingStream(descriptor.digest, size));
        streaming = true;
        await completeUpload(target.client, target.repository, open, descriptor.digest, body, size);
        return 'copied';
      } catch (error) {
        await cancelUpload(target.client, target.repository, open);
        throw error;
      }
    },
    target.client.retry,
    {
      signal: target.client.signal,
      retryable: (error) => streaming && isRetryable(error),
      onRetry: () => void target.client.stats.retries++,
    },
  );
}
