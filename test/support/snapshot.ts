// Snapshots of what a failing task may not change, for the bad-input suite: the files under a folder (names, kinds,
// sizes and content hashes; not times, which a write probe that leaves nothing still touches), and this test run's
// containers and images on the engine.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { TEST_RUN_ID, TEST_RUN_LABEL } from './engine';

/** Every entry under `dir` (not following links) as sorted text lines; `(absent)` when `dir` does not exist. */
export function folderSnapshot(dir: string): string {
  if (!fs.existsSync(dir)) return '(absent)';
  const lines: string[] = [];
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const name = path.relative(dir, full);
      if (entry.isDirectory()) {
        lines.push(`${name}/`);
        walk(full);
      } else if (entry.isFile()) {
        const bytes = fs.readFileSync(full);
        lines.push(`${name} ${bytes.length} ${crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`);
      } else {
        lines.push(`${name} (${entry.isSymbolicLink() ? 'link' : 'special'})`);
      }
    }
  };
  walk(dir);
  return lines.sort().join('\n');
}

/** This run's containers (any state) and images with their tags, found by TEST_RUN_LABEL, as sorted text lines. */
export async function engineSnapshot(docker: Dockerode): Promise<string> {
  const filters = { label: [`${TEST_RUN_LABEL}=${TEST_RUN_ID}`] };
  const containers = await docker.listContainers({ all: true, filters });
  const images = await docker.listImages({ all: false, filters });
  return [
    ...containers.map((c) => `container ${c.Id.slice(0, 12)} ${c.Image} ${c.State}`),
    ...images.map((i) => `image ${i.Id.slice(7, 19)} ${[...(i.RepoTags ?? [])].sort().join(' ')}`),
  ]
    .sort()
    .join('\n');
}
