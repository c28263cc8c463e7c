import { strict as assert } from 'node:assert';
import { decodeTrace, TracePrinter } from '../../shared/src/docker/trace';
import { readFields, writeFields } from '../../shared/src/docker/protowire';
import { memoryLog } from '../../shared/src/log';

// Recorded from engine 20.10.24 (BuildKit through POST /build?version=2): the `aux` of every moby.buildkit.trace
// event of a build whose RUN prints "first line", then "partial " and "rest" in two writes, and exits 7.
const recordedTraces = [
  'Cm8KR3NoYTI1NjowMDMyZGJjNmZlMzg0Njg3OWFmNzY4NGRlZTYwMzlmNjlkM2ExMWYxOGViODNkZjJiYTk2YjhlZWVkZjgxYTcxGiRbaW50ZXJuYWxdIGxvYWQgcmVtb3RlIGJ1aWxkIGNvbnRleHQ=',
  'Cn0KR3NoYTI1NjowMDMyZGJjNmZlMzg0Njg3OWFmNzY4NGRlZTYwMzlmNjlkM2ExMWYxOGViODNkZjJiYTk2YjhlZWVkZjgxYTcxGiRbaW50ZXJuYWxdIGxvYWQgcmVtb3RlIGJ1aWxkIGNvbnRleHQqDAjhpo3YBhCUlKK7Ag==',
  'CosBCkdzaGEyNTY6MDAzMmRiYzZmZTM4NDY4NzlhZjc2ODRkZWU2MDM5ZjY5ZDNhMTFmMThlYjgzZGYyYmE5NmI4ZWVlZGY4MWE3MRokW2ludGVybmFsXSBsb2FkIHJlbW90ZSBidWlsZCBjb250ZXh0KgwI4aaN2AYQlJSiuwIyDAjhpo3YBhCpoP/AAg==',
  'CosBCkdzaGEyNTY6MDAzMmRiYzZmZTM4NDY4NzlhZjc2ODRkZWU2MDM5ZjY5ZDNhMTFmMThlYjgzZGYyYmE5NmI4ZWVlZGY4MWE3MRokW2ludGVybmFsXSBsb2FkIHJlbW90ZSBidWlsZCBjb250ZXh0KgwI4aaN2AYQtdaHwQIyDAjhpo3YBhCnlIjBAg==',
  'CqMBCkdzaGEyNTY6ZjIxYTkxYTFhOTUwNWIwOWEwODNjOWQyNDczNjZmODc3ODE2NWUzYTdlNzNkOTk0N2FmM2UzZWQwMzM3ODFhYhJHc2hhMjU2OjAwMzJkYmM2ZmUzODQ2ODc5YWY3Njg0ZGVlNjAzOWY2OWQzYTExZjE4ZWI4M2RmMmJhOTZiOGVlZWRmODFhNzEaD2NvcHkgL2NvbnRleHQgLw==',
  'CrEBCkdzaGEyNTY6ZjIxYTkxYTFhOTUwNWIwOWEwODNjOWQyNDczNjZmODc3ODE2NWUzYTdlNzNkOTk0N2FmM2UzZWQwMzM3ODFhYhJHc2hhMjU2OjAwMzJkYmM2ZmUzODQ2ODc5YWY3Njg0ZGVlNjAzOWY2OWQzYTExZjE4ZWI4M2RmMmJhOTZiOGVlZWRmODFhNzEaD2NvcHkgL2NvbnRleHQgLyoMCOGmjdgGEMTrxcQC',
  'Cr8BCkdzaGEyNTY6ZjIxYTkxYTFhOTUwNWIwOWEwODNjOWQyNDczNjZmODc3ODE2NWUzYTdlNzNkOTk0N2FmM2UzZWQwMzM3ODFhYhJHc2hhMjU2OjAwMzJkYmM2ZmUzODQ2ODc5YWY3Njg0ZGVlNjAzOWY2OWQzYTExZjE4ZWI4M2RmMmJhOTZiOGVlZWRmODFhNzEaD2NvcHkgL2NvbnRleHQgLyoMCOGmjdgGEMTrxcQCMgwI4aaN2AYQ1NHb3gI=',
  'CrMBCkdzaGEyNTY6NTcyNzNlOGY2MmEzZTM0NDFmNzU4MDQ2M2FlNmU5MjE3NjU5OGUyY2ZiMDg4OTY0MGQ5OTM3MGQ1NDNjMDlmYhJHc2hhMjU2OmYyMWE5MWExYTk1MDViMDlhMDgzYzlkMjQ3MzY2Zjg3NzgxNjVlM2E3ZTczZDk5NDdhZjNlM2VkMDMzNzgxYWIaH1sxLzJdIENPUFkgYnVzeWJveCAvYmluL2J1c3lib3gK8wEKR3NoYTI1Njo1ZTllMzBlMmVjYjc1NmMxMjg0ZTczYjMzODFkMDU2ZjQyNWFkY2Q2OTk5OWQ4ZjBhOGEyZGM1NThiNjQ3OGQyEkdzaGEyNTY6NTcyNzNlOGY2MmEzZTM0NDFmNzU4MDQ2M2FlNmU5MjE3NjU5OGUyY2ZiMDg4OTY0MGQ5OTM3MGQ1NDNjMDlmYhpfWzIvMl0gUlVOIFsiL2Jpbi9idXN5Ym94IiwgInNoIiwgIi1jIiwgImVjaG8gZmlyc3QgbGluZTsgcHJpbnRmICdwYXJ0aWFsICc7IGVjaG8gcmVzdDsgZXhpdCA3Il0=',
  'CsEBCkdzaGEyNTY6NTcyNzNlOGY2MmEzZTM0NDFmNzU4MDQ2M2FlNmU5MjE3NjU5OGUyY2ZiMDg4OTY0MGQ5OTM3MGQ1NDNjMDlmYhJHc2hhMjU2OmYyMWE5MWExYTk1MDViMDlhMDgzYzlkMjQ3MzY2Zjg3NzgxNjVlM2E3ZTczZDk5NDdhZjNlM2VkMDMzNzgxYWIaH1sxLzJdIENPUFkgYnVzeWJveCAvYmluL2J1c3lib3gqDAjhpo3YBhCXkajlAg==',
  'Cs8BCkdzaGEyNTY6NTcyNzNlOGY2MmEzZTM0NDFmNzU4MDQ2M2FlNmU5MjE3NjU5OGUyY2ZiMDg4OTY0MGQ5OTM3MGQ1NDNjMDlmYhJHc2hhMjU2OmYyMWE5MWExYTk1MDViMDlhMDgzYzlkMjQ3MzY2Zjg3NzgxNjVlM2E3ZTczZDk5NDdhZjNlM2VkMDMzNzgxYWIaH1sxLzJdIENPUFkgYnVzeWJveCAvYmluL2J1c3lib3gqDAjhpo3YBhCXkajlAjIMCOGmjdgGEOKSrOcC',
  'CoECCkdzaGEyNTY6NWU5ZTMwZTJlY2I3NTZjMTI4NGU3M2IzMzgxZDA1NmY0MjVhZGNkNjk5OTlkOGYwYThhMmRjNTU4YjY0NzhkMhJHc2hhMjU2OjU3MjczZThmNjJhM2UzNDQxZjc1ODA0NjNhZTZlOTIxNzY1OThlMmNmYjA4ODk2NDBkOTkzNzBkNTQzYzA5ZmIaX1syLzJdIFJVTiBbIi9iaW4vYnVzeWJveCIsICJzaCIsICItYyIsICJlY2hvIGZpcnN0IGxpbmU7IHByaW50ZiAncGFydGlhbCAnOyBlY2hvIHJlc3Q7IGV4aXQgNyJdKgwI4aaN2AYQrMfY5wI=',
  'GnMKR3NoYTI1Njo1ZTllMzBlMmVjYjc1NmMxMjg0ZTczYjMzODFkMDU2ZjQyNWFkY2Q2OTk5OWQ4ZjBhOGEyZGM1NThiNjQ3OGQyEgwI4aaN2AYQu/rAgwMYASIYZmlyc3QgbGluZQpwYXJ0aWFsIHJlc3QK',
  'CoEDCkdzaGEyNTY6NWU5ZTMwZTJlY2I3NTZjMTI4NGU3M2IzMzgxZDA1NmY0MjVhZGNkNjk5OTlkOGYwYThhMmRjNTU4YjY0NzhkMhJHc2hhMjU2OjU3MjczZThmNjJhM2UzNDQxZjc1ODA0NjNhZTZlOTIxNzY1OThlMmNmYjA4ODk2NDBkOTkzNzBkNTQzYzA5ZmIaX1syLzJdIFJVTiBbIi9iaW4vYnVzeWJveCIsICJzaCIsICItYyIsICJlY2hvIGZpcnN0IGxpbmU7IHByaW50ZiAncGFydGlhbCAnOyBlY2hvIHJlc3Q7IGV4aXQgNyJdKgwI4aaN2AYQrMfY5wIyDAjhpo3YBhDp0eSIAzpwZXhlY3V0b3IgZmFpbGVkIHJ1bm5pbmcgWy9iaW4vYnVzeWJveCBzaCAtYyBlY2hvIGZpcnN0IGxpbmU7IHByaW50ZiAncGFydGlhbCAnOyBlY2hvIHJlc3Q7IGV4aXQgN106IGV4aXQgY29kZTogNw==',
];

describe('BuildKit trace decoding', () => {
  it('decodes the vertexes, logs and errors of a recorded build', () => {
    const responses = recordedTraces.map(decodeTrace);
    const vertexes = responses.flatMap((r) => r.vertexes);
    const names = [...new Set(vertexes.map((v) => v.name))];
    assert.deepEqual(names, [
      '[internal] load remote build context',
      'copy /context /',
      '[1/2] COPY busybox /bin/busybox',
      '[2/2] RUN ["/bin/busybox", "sh", "-c", "echo first line; printf \'partial \'; echo rest; exit 7"]',
    ]);
    assert.ok(vertexes.every((v) => v.digest.startsWith('sha256:')));
    const failed = vertexes.filter((v) => v.error);
    assert.equal(failed.length, 1);
    assert.match(failed[0].error, /exit code: 7$/);
    assert.ok(failed[0].completed! >= failed[0].started!);
    const logText = responses
      .flatMap((r) => r.logs)
      .map((l) => l.data.toString())
      .join('');
    assert.equal(logText, 'first line\npartial rest\n');
  });

  it('prints plain #N lines, joins partial writes and remembers the failed step with its last lines', () => {
    const log = memoryLog();
    const printer = new TracePrinter(log);
    for (const aux of recordedTraces) printer.write(decodeTrace(aux));
    const run = log.lines.findIndex((l) => /^#4 \[2\/2\] RUN /.test(l));
    assert.ok(run > 0, log.lines.join('\n'));
    assert.match(log.lines[run + 1], /^#4 \d+\.\d{3} first line$/);
    assert.match(log.lines[run + 2], /^#4 \d+\.\d{3} partial rest$/);
    assert.match(log.lines[run + 3], /^#4 ERROR: executor failed running .*exit code: 7$/);
    assert.ok(log.lines.includes('#1 [internal] load remote build context'));
    assert.ok(log.lines.some((l) => /^#3 DONE \d+\.\ds$/.test(l)));
    assert.equal(log.lines.filter((l) => l.startsWith('#3 [1/2]')).length, 1, 'a step is announced once');
    const step = printer.failedStep!;
    assert.match(step.name, /^\[2\/2\] RUN /);
    assert.deepEqual(step.lastLines, ['first line', 'partial rest']);
  });

  it('prefers the step that failed over siblings cancelled because of it', () => {
    const vertex = (digest: string, name: string, error: string) =>
      writeFields([
        { field: 1, value: digest },
        { field: 3, value: name },
        { field: 5, value: writeFields([{ field: 1, value: 100 }]) },
        { field: 6, value: writeFields([{ field: 1, value: 101 }]) },
        { field: 7, value: error },
      ]);
    const response = writeFields([
      { field: 1, value: vertex('sha256:a', '[a 1/1] RUN sleep 9', 'context canceled') },
      { field: 1, value: vertex('sha256:b', '[b 1/1] RUN false', 'exit code: 1') },
    ]);
    const printer = new TracePrinter(memoryLog());
    printer.write(decodeTrace(response.toString('base64')));
    assert.equal(printer.failedStep?.name, '[b 1/1] RUN false');
  });

  it('rejects truncated messages instead of reading past them', () => {
    const whole = Buffer.from(recordedTraces[0], 'base64');
    assert.throws(() => readFields(whole.subarray(0, whole.length - 3)), /truncated/);
  });
});
