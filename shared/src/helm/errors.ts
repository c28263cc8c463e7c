/**
 * The options of `packageChart` and `pushChartToRegistry` a problem can be blamed on. A task maps each to the input
 * that sets it (most by the same name; `branch` comes from the source branch, `login` from a service connection).
 */
export type ChartOption =
  | 'chartPath'
  | 'chartVersion'
  | 'branch'
  | 'appVersion'
  | 'imageRepository'
  | 'imageDigest'
  | 'imageValuesKey'
  | 'destination'
  | 'chartRepository'
  | 'login';

/** What is wrong with one option: `problem` reads on from the option's name (`is not a SemVer 2 version: '1.4'`). */
export interface ChartBlame {
  option: ChartOption;
  problem: string;
}

/**
 * A chart, its inputs or its files are not what packaging needs. The message is one line that names the option,
 * file or branch at fault and what to do; the pipeline adapter prints it as the task's failure. When one option is
 * at fault, `blame` says which, so a task can name its input instead: the message is then `<option> <problem>`.
 */
export class ChartError extends Error {
  override name = 'ChartError';
  readonly blame?: ChartBlame;

  constructor(message: string, options?: { blame?: ChartBlame; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.blame = options?.blame;
  }
}

/** A ChartError blaming `option`: `chartVersion is not a SemVer 2 version: '1.4' (…)`. */
export function optionError(option: ChartOption, problem: string, cause?: unknown): ChartError {
  return new ChartError(`${option} ${problem}`, { blame: { option, problem }, cause });
}
