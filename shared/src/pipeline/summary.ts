// The one way a task attaches its run summary: a Markdown file in the agent's temp folder, then `task.uploadsummary`.
// What the agent does with it (azure-pipelines-agent, src/Agent.Worker/TaskCommandExtension.cs): the attachment's name
// is Path.GetFileName(path), refused when it holds a character invalid in a file name on the agent's system; the file
// must exist when the command is read, and is uploaded from the job's queue later, after the task may have exited, so
// it stays where it is (the agent cleans its temp folder after the job). The run's Extensions tab titles the section
// with that name less `.md`, hence the title as the file name and a folder of its own for each summary.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { redact } from './secrets';

/** What .NET's Path.GetInvalidFileNameChars() holds on Windows (a superset of Linux's `/` and NUL). */
const INVALID_IN_FILE_NAME = /[\\/:*?"<>|\0-\x1f]+/g;
/** Other characters that make a poor title: DEL, C1 controls, line and paragraph separators. */
const CONTROL = /[\x7f-\x9f\u2028\u2029]+/g;
/** Names Windows keeps for devices, with any extension: `NUL.md` is the null device, not a file. */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;
/** A section title is a line; this also keeps the file name far below the 255 bytes a file system allows. */
const TITLE_MAX_CHARS = 80;
const FALLBACK_TITLE = 'Summary';

/**
 * The file name (without `.md`) the agent will show as the section title: characters a file name cannot hold on
 * the agent's system become spaces, white space is collapsed, the length is bounded, and a trailing dot or a
 * Windows device name is avoided.
 */
export function summaryFileTitle(title: string): string {
  const cleaned = title.replace(INVALID_IN_FILE_NAME, ' ').replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
  const bounded = Array.from(cleaned)
    .slice(0, TITLE_MAX_CHARS)
    .join('')
    .replace(/[. ]+$/, '');
  if (bounded === '') return FALLBACK_TITLE;
  return WINDOWS_DEVICE.test(bounded) ? `${bounded} summary` : bounded;
}

/**
 * Writes `markdown` (secrets masked) to `<tempDirectory>/outerloop-summary-<uuid>/<title>.md` and returns the path,
 * for `task.uploadsummary`. The file is left in place: the agent uploads it after the task has exited.
 */
export function writeSummaryFile(tempDirectory: string | undefined, title: string, markdown: string): string {
  const folder = path.join(tempDirectory || os.tmpdir(), `outerloop-summary-${randomUUID()}`);
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${summaryFileTitle(title)}.md`);
  fs.writeFileSync(file, redact(markdown.endsWith('\n') ? markdown : `${markdown}\n`));
  return file;
}
