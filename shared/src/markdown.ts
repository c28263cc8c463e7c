// The one way the tasks write Markdown for their run summaries. Text from outside (test names, image labels, registry
// messages) must render as that text, never as markup, links or HTML, so every value goes through escapeText,
// escapeCell, code or link, and tables through table. Pure: no I/O, no task-lib, usable from every layer.

/** How many characters a table cell keeps by default: a summary is a page people scan, not the full report. */
export const CELL_MAX_CHARS = 200;

/** Characters that start markup inline: CommonMark lets any ASCII punctuation be backslash-escaped. */
const INLINE_MARKUP = /[\\`*_{}[\]()#+!|~]/g;
/** What makes a line a block (list item, setext underline, thematic break) when it starts a paragraph. */
const BLOCK_START = /^(-|=|\d{1,9}(?=[.)]))/;
const LINE_BREAK = /\r\n|\r|\n/g;

/** `text` on one line with HTML and inline markup escaped: what a table cell or a heading needs. */
function escapeInline(text: string): string {
  return text.replace(/\s+/g, ' ').trim().replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(INLINE_MARKUP, '\\$&');
}

/**
 * `text` as inline Markdown that renders as exactly that text, also at the start of a paragraph: `&`, `<` and `>`
 * become entities (no HTML), Markdown punctuation is backslash-escaped (no emphasis, code, links or images, no table
 * cell break), a leading list or underline marker is escaped, and line breaks and runs of white space become one
 * space, so the value stays on its line.
 */
export function escapeText(text: string): string {
  return escapeInline(text).replace(BLOCK_START, (marker) => (marker === '-' || marker === '=' ? `\\${marker}` : `${marker}\\`));
}

/**
 * A table cell (or a heading) holding `text` (nothing for `undefined`), escaped as {@link escapeText} but for the
 * paragraph-start markers a cell cannot have, and cut to `maxChars` characters with an ellipsis. The cut is made on
 * the text, before escaping, and never splits a character.
 */
export function escapeCell(text: string | undefined, maxChars = CELL_MAX_CHARS): string {
  if (!text) return '';
  const characters = Array.from(text.replace(/\s+/g, ' ').trim());
  const kept = characters.length > maxChars ? `${characters.slice(0, maxChars - 1).join('')}…` : characters.join('');
  return escapeInline(kept);
}

/** The longest run of `character` in `text`. */
function longestRun(text: string, character: string): number {
  let longest = 0;
  let run = 0;
  for (const c of text) {
    run = c === character ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest;
}

/**
 * `text` as an inline code span, shown exactly (HTML and Markdown inside stay literal): the fence is one backtick
 * longer than any run of backticks inside, and a space pads content that starts or ends with a backtick (CommonMark
 * strips one such space). Line breaks become spaces, as a code span shows them anyway. An empty `text` gives ''.
 */
export function code(text: string): string {
  const content = text.replace(LINE_BREAK, ' ');
  if (content === '') return '';
  const fence = '`'.repeat(longestRun(content, '`') + 1);
  const strippedSpaces = content.startsWith(' ') && content.endsWith(' ') && /[^ ]/.test(content);
  const pad = content.startsWith('`') || content.endsWith('`') || strippedSpaces ? ' ' : '';
  return `${fence}${pad}${content}${pad}${fence}`;
}

/**
 * `text` as a fenced code block (a line to copy, e.g. `docker pull …`), shown exactly: the fence is longer than any
 * run of backticks inside. `language` is the info string (letters, digits, `-`, `+`, `.`, `#` only).
 */
export function codeBlock(text: string, language = ''): string {
  const fence = '`'.repeat(Math.max(3, longestRun(text, '`') + 1));
  const info = /^[\w+.#-]*$/.test(language) ? language : '';
  return [`${fence}${info}`, ...text.split(LINE_BREAK), fence].join('\n');
}

/**
 * A link to `url` showing `text` (escaped as {@link escapeText}). Only http and https URLs become links, so a value
 * from outside cannot make a `javascript:` link; anything else is shown as text. The URL is normalised and the
 * characters that would end or escape a link destination are percent-encoded.
 */
export function link(text: string, url: string): string {
  let href: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return escapeText(text);
    href = parsed.href;
  } catch {
    return escapeText(text);
  }
  const destination = href.replace(/[()<>\\ ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return `[${escapeText(text)}](${destination})`;
}

/** A column of {@link table}: its header (plain text) and, optionally, how its cells are aligned. */
export type Column = string | { header: string; align: 'left' | 'center' | 'right' };

const DELIMITERS = { left: ':---', center: ':---:', right: '---:' } as const;

/**
 * A GFM table. Headers are plain text (escaped here); cells are inline Markdown made with {@link escapeCell},
 * {@link code} or {@link link}. Line breaks in a cell become spaces and every unescaped `|` is escaped (inside a
 * code span too, as GFM asks), so a cell never breaks its row. A row shorter than the columns is padded with empty
 * cells; a longer one is a mistake and throws.
 */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const row = (cells: readonly string[]) =>
    '|' +
    columns
      .map((_, i) => {
        const cell = (cells[i] ?? '').replace(LINE_BREAK, ' ').replace(/(?<!\\)((?:\\\\)*)\|/g, '$1\\|');
        return cell === '' ? ' |' : ` ${cell} |`;
      })
      .join('');
  const lines = [
    row(columns.map((c) => escapeInline(typeof c === 'string' ? c : c.header))),
    row(columns.map((c) => (typeof c === 'string' ? '---' : DELIMITERS[c.align]))),
  ];
  for (const cells of rows) {
    if (cells.length > columns.length) {
      throw new RangeError(`a table row has ${cells.length} cells for ${columns.length} columns`);
    }
    lines.push(row(cells));
  }
  return lines.join('\n');
}

/** `1 tag`, `2 tags`, `3 entries`: a count as people read it, in a summary or a log line. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

/** A duration as people read it in a summary: `12 ms`, `1.23 s`, `1 min 1 s`, `1 h 2 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
