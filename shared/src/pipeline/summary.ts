// The one way a task attaches its run summary: a Markdown file in the agent's temp folder, named for its section
// title, then `task.uploadsummary`. The agent uploads the file after the task has exited, so it stays where it is.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { redact } from './secrets';

/** Characters a file name cannot hold on Windows or Linux agents, and control characters. */
const UNSAFE_IN_FILE_NAME = /[\\/:*?"<>|\0-\x1f\x7f]+/g;

/**
 * Writes `markdown` (secrets masked) to `<tempDirectory>/outerloop-summary-<uuid>/<title>.md` and returns the path.
 * The summary page shows the attachment under its file name, hence the title as the name and a folder of its own.
 */
export function writeSummaryFile(tempDirectory: string | undefined, title: string, markdown: string): string {
  const folder = path.join(tempDirectory || os.tmpdir(), `outerloop-summary-${randomUUID()}`);
  fs.mkdirSync(folder, { recursive: true });
  const name = title.replace(UNSAFE_IN_FILE_NAME, ' ').trim() || 'Summary';
  const file = path.join(folder, `${name}.md`);
  fs.writeFileSync(file, redact(markdown.endsWith('\n') ? markdown : `${markdown}\n`));
  return file;
}
