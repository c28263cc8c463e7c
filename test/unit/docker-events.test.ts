import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { EngineStreamError, eventError, followProgress, JsonLineSplitter, type ProgressEvent } from '../../shared/src/docker/events';

function feed(chunks: Array<string | Buffer>, end = true): PassThrough {
  const stream = new PassThrough();
  setImmediate(() => {
    for (const chunk of chunks) stream.write(chunk);
    if (end) stream.end();
    else stream.destroy();
  });
  return stream;
}

describe('engine progress streams', () => {
  it('splits JSON messages cut anywhere, including inside a multi-byte character', () => {
    const text = '{"stream":"Step 1/2 : FROM scratch\\n"}\n{"stream":"grüße\\n"}\r\n{"aux":{"ID":"sha256:ab"}}\n';
    const bytes = Buffer.from(text);
    const splitter = new JsonLineSplitter();
    const events: unknown[] = [];
    for (let i = 0; i < bytes.length; i += 5) events.push(...splitter.push(bytes.subarray(i, i + 5)));
    events.push(...splitter.end());
    assert.deepEqual(events, [{ stream: 'Step 1/2 : FROM scratch\n' }, { stream: 'grüße\n' }, { aux: { ID: 'sha256:ab' } }]);
  });

  it('splits messages the engine wrote back to back without a newline', () => {
    assert.deepEqual(new JsonLineSplitter().push('{"status":"a"}{"status":"b"}\n'), [{ status: 'a' }, { status: 'b' }]);
  });

  it('finds an error in errorDetail, in error alone, or in an empty errorDetail', () => {
    assert.equal(eventError({ errorDetail: { message: 'denied: requested access' }, error: 'denied' }), 'denied: requested access');
    assert.equal(eventError({ error: 'unauthorized: authentication required' }), 'unauthorized: authentication required');
    assert.match(eventError({ errorDetail: {} })!, /without a message/);
    assert.equal(eventError({ status: 'Pushed', id: 'abc' }), undefined);
  });

  it('hands every event over as it arrives and resolves at the end', async () => {
    const seen: ProgressEvent[] = [];
    await followProgress(
      feed(['{"status":"Preparing","id":"a"}\n{"sta', 'tus":"Pushed","id":"a"}\n', '{"aux":{"Digest":"sha256:1"}}']),
      (e) => seen.push(e),
    );
    assert.deepEqual(
      seen.map((e) => e.status ?? 'aux'),
      ['Preparing', 'Pushed', 'aux'],
    );
  });

  it('rejects on an error reported inside a 200 stream, after the events before it', async () => {
    const seen: ProgressEvent[] = [];
    const failure = await followProgress(
      feed([
        '{"stream":"Step 1/1 : RUN false\\n"}\n',
        '{"errorDetail":{"message":"The command returned a non-zero code: 1"},"error":"x"}\n',
        '{"stream":"after"}\n',
      ]),
      (e) => seen.push(e),
    ).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(failure instanceof EngineStreamError);
    assert.equal(failure.message, 'The command returned a non-zero code: 1');
    assert.deepEqual(seen, [{ stream: 'Step 1/1 : RUN false\n' }]);
  });

  it('rejects when the stream breaks before its end', async () => {
    await assert.rejects(
      followProgress(feed(['{"status":"Pushing"}\n'], false), () => {}),
      EngineStreamError,
    );
  });

  it('rejects a line that is not JSON', async () => {
    await assert.rejects(
      followProgress(feed(['<html>502 Bad Gateway</html>\n']), () => {}),
      /not JSON: <html>502/,
    );
  });
});
