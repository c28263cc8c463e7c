import { StringDecoder } from 'node:string_decoder';

/**
 * One JSON message of an engine progress stream (build, push, pull). The engine answers these calls with HTTP 200
 * before it starts, so a failure arrives as a message with `error`/`errorDetail`, never as a status code.
 */
export interface ProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: unknown;
}

/** A failure the engine reported inside a progress stream (or the stream itself broke). */
export class EngineStreamError extends Error {
  constructor(
    message: string,
    readonly event?: ProgressEvent,
  ) {
    super(message);
    this.name = 'EngineStreamError';
  }
}

/** The error an event carries, if any: `errorDetail.message` is the fuller text, `error` the older field. */
export function eventError(event: ProgressEvent): string | undefined {
  const detail = event.errorDetail?.message?.trim();
  const plain = typeof event.error === 'string' ? event.error.trim() : undefined;
  if (detail) return detail;
  if (plain) return plain;
  if (event.errorDetail || event.error !== undefined) return 'the engine reported an error without a message';
  return undefined;
}

/** Splits a byte stream into JSON messages; the engine writes one per line, but chunks cut them anywhere. */
export class JsonLineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';

  push(chunk: Buffer | string): unknown[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    return lines.flatMap(parseLine);
  }

  end(): unknown[] {
    const rest = this.buffer + this.decoder.end();
    this.buffer = '';
    return parseLine(rest);
  }
}

function parseLine(line: string): unknown[] {
  const text = line.trim();
  if (!text) return [];
  try {
    return [JSON.parse(text)];
  } catch {
    // Some engines concatenate messages without a newline (`}{`): split at those seams and try again.
    const pieces = text.split(/(?<=\})(?=\{)/);
    if (pieces.length > 1) return pieces.flatMap(parseLine);
    throw new EngineStreamError(`the engine sent a progress line that is not JSON: ${text.slice(0, 200)}`);
  }
}

/**
 * Reads an engine progress stream to its end, handing every message to `onEvent` as it arrives (so output streams
 * live). Resolves when the stream ends cleanly; rejects with {@link EngineStreamError} on the first message that
 * carries an error, when the stream breaks, or when it closes before its end.
 */
export function followProgress(stream: NodeJS.ReadableStream, onEvent: (event: ProgressEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const splitter = new JsonLineSplitter();
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      stream.removeListener('data', onData);
      // Stop reading: the engine aborts the operation when the client goes away.
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(error);
    };
    const handle = (messages: unknown[]) => {
      for (const message of messages) {
        if (settled) return;
        if (!message || typeof message !== 'object') continue;
        const event = message as ProgressEvent;
        const error = eventError(event);
        if (error !== undefined) return fail(new EngineStreamError(error, event));
        onEvent(event);
      }
    };
    const onData = (chunk: Buffer | string) => {
      try {
        handle(splitter.push(chunk));
      } catch (error) {
        fail(error as Error);
      }
    };
    stream.on('data', onData);
    stream.on('error', (error: Error) => fail(new EngineStreamError(`the engine connection broke: ${error.message}`)));
    stream.on('end', () => {
      try {
        handle(splitter.end());
      } catch (error) {
        return fail(error as Error);
      }
      if (!settled) {
        settled = true;
        resolve();
      }
    });
    stream.on('close', () => fail(new EngineStreamError('the engine closed the progress stream before it finished')));
  });
}
