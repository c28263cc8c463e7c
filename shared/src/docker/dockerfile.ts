// Just enough of the Dockerfile grammar to list the stages: parser directives (`# escape=`), comments, line
// continuations and `FROM [--flag=…] <image> [AS <name>]`. https://docs.docker.com/reference/dockerfile/
import { printable } from '../reference';

/** One `FROM` of a Dockerfile. */
export interface DockerfileStage {
  /** 0-based position; BuildKit and the classic builder also accept it as a target. */
  index: number;
  /** The stage name after `AS`, lower-cased as the builders compare it. */
  name?: string;
  /** The base as written (may contain `${ARG}`). */
  base: string;
  /** 1-based line of the `FROM`. */
  line: number;
}

/** The instructions of a Dockerfile with their first line numbers, continuations joined and comments dropped. */
export function dockerfileInstructions(text: string): Array<{ keyword: string; args: string; line: number }> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let i = 0;
  // Parser directives: `# key=value` lines at the very top, before any other line (even a blank one).
  for (; i < lines.length; i++) {
    const directive = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(lines[i]);
    if (!directive) break;
    if (directive[1].toLowerCase() === 'escape' && (directive[2] === '`' || directive[2] === '\\')) escape = directive[2];
  }
  const instructions: Array<{ keyword: string; args: string; line: number }> = [];
  let current: { text: string; line: number } | undefined;
  for (; i < lines.length; i++) {
    const raw = lines[i];
    if (/^\s*#/.test(raw)) continue;
    let text = raw;
    const continued = text.trimEnd().endsWith(escape);
    if (continued) text = text.trimEnd().slice(0, -1);
    if (current) current.text += text;
    else if (text.trim()) current = { text, line: i + 1 };
    if (!continued && current) {
      const match = /^\s*(\S+)\s*(.*)$/s.exec(current.text);
      if (match) instructions.push({ keyword: match[1].toUpperCase(), args: match[2].trim(), line: current.line });
      current = undefined;
    }
  }
  if (current?.text.trim()) {
    const match = /^\s*(\S+)\s*(.*)$/s.exec(current.text);
    if (match) instructions.push({ keyword: match[1].toUpperCase(), args: match[2].trim(), line: current.line });
  }
  return instructions;
}

export function dockerfileStages(text: string): DockerfileStage[] {
  const stages: DockerfileStage[] = [];
  for (const instruction of dockerfileInstructions(text)) {
    if (instruction.keyword !== 'FROM') continue;
    const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
    const stage: DockerfileStage = { index: stages.length, base: words[0] ?? '', line: instruction.line };
    if (words.length >= 3 && words[1].toLowerCase() === 'as') stage.name = words[2].toLowerCase();
    stages.push(stage);
  }
  return stages;
}

/**
 * Checks that `target` names a stage (by name, case-insensitively, or by index, as the builders accept); an empty
 * target means the last stage. Returns the problem as one line, or undefined when the target is fine.
 */
export function targetProblem(stages: readonly DockerfileStage[], target: string | undefined): string | undefined {
  if (stages.length === 0) return 'has no FROM instruction';
  if (!target) return undefined;
  const wanted = target.toLowerCase();
  if (stages.some((stage) => stage.name === wanted || String(stage.index) === wanted)) return undefined;
  const named = stages.filter((stage) => stage.name).map((stage) => stage.name);
  return named.length
    ? `has no stage named '${printable(target)}' (its stages: ${named.join(', ')})`
    : `has no stage named '${printable(target)}' (none of its stages has a name: add 'AS ${printable(wanted)}' to a FROM)`;
}
