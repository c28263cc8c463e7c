// Every chart YAML we read or write (Chart.yaml, Chart.lock, requirements.*, values.yaml) goes through `yaml`
// (eemeli/yaml) and this module. Why `yaml` and not js-yaml, and only one of them: its Document API keeps each
// node's source range, so values.yaml is edited in place with comments, key order and layout kept; `maxAliasCount`
// bounds alias expansion; and it writes YAML 1.1-safe scalars (`'yes'`, `'1_000'` quoted), as helm's Go reader needs.
import type * as Yaml from 'yaml';
import type { Document, Node, YAMLMap } from 'yaml';
import { ChartError } from './errors';

let loaded: typeof Yaml | undefined;
/** `yaml`, loaded on first use: a run that stops at its inputs never reads it (build/bundle.mjs keeps it in its own file). */
export function yamlLibrary(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- on first use, see above
  return (loaded ??= require('yaml') as typeof Yaml);
}

/**
 * `yaml`'s `maxAliasCount`: how much alias expansion a file may ask for, in that library's measure. Its default, 100,
 * refuses a values file that names one anchor 101 times, which a real chart may do; with 1000, a "billion laughs"
 * file (9 levels of 9 aliases) is still refused within milliseconds (test/unit/helm-values.test.ts).
 */
export const MAX_ALIAS_COUNT = 1000;

/**
 * `core`: YAML 1.2's core schema, no timestamps or other types helm's JSON round trip lacks (Chart.yaml, locks).
 * `1.1`: what helm reads values.yaml with (go-yaml: `<<` merge keys, `yes`/`no` booleans).
 */
export type YamlSchema = 'core' | '1.1';

/** Parses one YAML document, keeping node ranges; a syntax error or a duplicate key is a ChartError naming `file`. */
export function parseYamlDocument(text: string, file: string, schema: YamlSchema = 'core'): Document.Parsed {
  const doc =
    schema === 'core'
      ? yamlLibrary().parseDocument(text, { schema: 'core', prettyErrors: false })
      : yamlLibrary().parseDocument(text, { version: '1.1', prettyErrors: false });
  const error = doc.errors[0];
  if (error) throw new ChartError(`${file} is not valid YAML: ${firstLine(error.message)} (line ${lineOf(text, error.pos[0])})`);
  return doc;
}

/** The plain value of a parsed document (aliases resolved, within MAX_ALIAS_COUNT). */
export function yamlValue(doc: Document, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      throw new ChartError(
        `${file} expands YAML aliases more than ${MAX_ALIAS_COUNT} times (an alias bomb?): write the values out instead`,
      );
    }
    throw new ChartError(`${file} is not valid YAML: ${firstLine((err as Error).message)}`);
  }
}

/** Parses YAML text into a plain value (`null` for an empty document). */
export function parseYaml(text: string, file: string, schema: YamlSchema = 'core'): unknown {
  return yamlValue(parseYamlDocument(text, file, schema), file);
}

/**
 * YAML as helm's Go writer would read it back: keys sorted, no line folding, no anchors, sequences not indented
 * under their key, and YAML 1.1 rules for which strings need quotes (single quotes, as js-yaml wrote them before).
 */
export function dumpYaml(value: unknown): string {
  return yamlLibrary().stringify(value, {
    version: '1.1',
    sortMapEntries: true,
    lineWidth: 0,
    aliasDuplicateObjects: false,
    indentSeq: false,
    singleQuote: true,
  });
}

/** Writes `value` as YAML for insertion into a document: new string values double-quoted, keys plain. */
export function dumpYamlQuoted(value: unknown, indent: number): string {
  return yamlLibrary().stringify(value, {
    version: '1.1',
    indent,
    lineWidth: 0,
    aliasDuplicateObjects: false,
    defaultStringType: 'QUOTE_DOUBLE',
    defaultKeyType: 'PLAIN',
  });
}

/** A block-style map node (not flow `{…}`), whose pairs can be edited line by line. */
export function isBlockMap(node: unknown): node is YAMLMap<Node, Node | null> {
  return yamlLibrary().isMap(node) && !node.flow;
}

/** The scalar key's text as the plain value sees it (`1: x` and `"1": x` are both key `1`). */
export function keyText(key: unknown): string | undefined {
  return yamlLibrary().isScalar(key) ? String(key.value) : undefined;
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
