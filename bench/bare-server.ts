/**
 * The two baselines for the webhook benchmark, as bare node:http servers:
 *   --mode parse    only parses the JSON body, then answers 200;
 *   --mode durable  also appends the alerts to a file and fdatasyncs once per batch of
 *                   concurrent requests, answering after the sync (the cheapest durable way).
 */
import { type FileHandle, open } from 'node:fs/promises';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { mode: { type: 'string' }, port: { type: 'string' }, file: { type: 'string' } } });
const mode = values.mode ?? 'parse';
let fh: FileHandle | null = null;
if (mode === 'durable') fh = await open(values.file ?? '/tmp/bare-journal.jsonl', 'a');

let queue: Array<{ line: string; done: () => void }> = [];
let flushing = false;
async function flush(): Promise<void> {
  flushing = true;
  while (queue.length) {
    const batch = queue;
    queue = [];
    await (fh as FileHandle).write(batch.map((b) => b.line).join(''));
    await (fh as FileHandle).datasync();
    for (const b of batch) b.done();
  }
  flushing = false;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: { alerts?: unknown[] };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alerts?: unknown[] };
    } catch {
      res.statusCode = 400;
      res.end();
      return;
    }
    if (mode !== 'durable') {
      res.end('{"status":"ok"}');
      return;
    }
    queue.push({ line: `${JSON.stringify(body.alerts ?? [])}\n`, done: () => res.end('{"status":"ok"}') });
    if (!flushing) void flush();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
