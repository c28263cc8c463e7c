/**
 * A chart, its inputs or its files are not what packaging needs. The message is one line that names the file,
 * input or branch at fault and what to do; the pipeline adapter prints it as the task's failure.
 */
export class ChartError extends Error {
  override name = 'ChartError';
}
