import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { printTable } from './table.js';

/**
 * Load test of `qwen-vl serve` (`pnpm bench:serve`, or `pnpm bench serve`): a server process
 * on the default model (models/tiny-shapes, built into .cache as `pnpm demo` builds it) gets
 * the shapes questions of examples/images (each with its image as a data: URL, greedy,
 * streamed) as 200 requests at concurrency 1, 4 and 16, then the same questions with long
 * answers (32 tokens, `ignore_eos`) at concurrency 1 and 16, where the decoder steps that
 * continuous batching shares dominate, then the questions with their pictures enlarged to
 * 1024×768 JPEGs (a photo's decoding and resizing, which the server's preparation threads take
 * off the model's thread) at concurrency 1 and 16. It reports throughput, p50/p99 time to first token and
 * total latency, and the server's RSS before and after; checks that every answer under load
 * is the answer the same request got alone, and that each request was answered once (the
 * client's count and the server's 200s agree); then sends 1000 more requests and reports how
 * much the RSS grew over them. Bounded: it stops at the first failed or mismatched request.
 */

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(REPO, 'packages/node/dist/cli/main.js');
const CHECKPOINT = join(REPO, 'models/tiny-shapes');
const IMAGES = join(REPO, 'examples/images');
const REQUESTS = 200;
const CONCURRENCY = [1, 4, 16];
/** Long answers: fewer requests, each 32 decoder steps. */
const LONG_REQUESTS = 96;
const LONG_CONCURRENCY = [1, 16];
const LONG_ANSWER = { max_tokens: 32, ignore_eos: true };
/** The pictures sent as photos: enlarged to this size, as JPEG (quality 90). */
const PHOTO = { width: 1024, height: 768 };
const PHOTO_REQUESTS = 96;
/** Requests over which the RSS growth is measured, after the levels above have warmed the server up. */
const RSS_REQUESTS = 1000;
/** Rows of the server's batch: every client of the highest level can be generating. */
const MAX_BATCH = 16;

interface BenchRequest {
  label: string;
  body: Record<string, unknown>;
}

interface Sample {
  request: number;
  text: string;
  completionTokens: number;
  ttftMs: number;
  totalMs: number;
}

/** The model folder: $QWEN_VL_SERVE_MODEL, else models/tiny-shapes built (once) by `qwen-vl demo`'s cache. */
async function benchModel(): Promise<string> {
  const given = process.env.QWEN_VL_SERVE_MODEL;
  if (given !== undefined && given !== '') return given;
  if (!existsSync(CHECKPOINT)) throw new Error(`${CHECKPOINT} is missing: set QWEN_VL_SERVE_MODEL to a folder made by "qwen-vl build"`);
  // demo builds the checkpoint into .cache/tiny-shapes/model unless an up-to-date build is there.
  await run([CLI, 'demo', '--checkpoint', CHECKPOINT, '--image', join(IMAGES, 'shape-one.png'), '--prompt', 'x', '--max-new-tokens', '1']);
  return join(REPO, '.cache/tiny-shapes/model');
}

/** Runs the CLI quietly; its stderr is shown only when it fails. */
function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => (stderr += text));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}: ${stderr}`))));
  });
}

/** The questions of examples/images/shapes.json, each about its image. */
async function benchRequests(model: string): Promise<BenchRequest[]> {
  const listed = JSON.parse(await readFile(join(IMAGES, 'shapes.json'), 'utf8')) as Record<string, { question: string }[]>;
  const requests: BenchRequest[] = [];
  for (const [file, questions] of Object.entries(listed)) {
    const url = `data:image/png;base64,${(await readFile(join(IMAGES, file))).toString('base64')}`;
    for (const { question } of questions) {
      requests.push({
        label: `${file}: ${question}`,
        body: {
          model,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'image_url', image_url: { url } },
                { type: 'text', text: question },
              ],
            },
          ],
          temperature: 0,
          stream: true,
          stream_options: { include_usage: true },
        },
      });
    }
  }
  return requests;
}

/**
 * The same questions with each picture enlarged to a 1024×768 JPEG: what a request carrying a
 * photo costs to decode and resize, with answers that still mean something.
 */
async function photoRequests(requests: readonly BenchRequest[]): Promise<BenchRequest[]> {
  // One JPEG per picture, made once (the requests ask several questions of each).
  const photos = new Map<string, Promise<string>>();
  const photo = async (url: string) => {
    const png = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    const jpeg = await sharp(png).resize(PHOTO.width, PHOTO.height, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  };
  return Promise.all(
    requests.map(async (request) => {
      const [message] = request.body.messages as { role: string; content: ({ type: 'text' } | { type: 'image_url'; image_url: { url: string } })[] }[];
      const content = await Promise.all(
        message.content.map(async (part) => {
          if (part.type !== 'image_url') return part;
          const url = part.image_url.url;
          if (!photos.has(url)) photos.set(url, photo(url));
          return { type: 'image_url', image_url: { url: await photos.get(url)! } };
        }),
      );
      return { label: `${request.label} (as a photo)`, body: { ...request.body, messages: [{ ...message, content }] } };
    }),
  );
}

/** More flags for the server, from $QWEN_VL_SERVE_ARGS (e.g. "--intra-op-threads 1"), split on spaces. */
function serverFlags(): string[] {
  return (process.env.QWEN_VL_SERVE_ARGS ?? '').split(' ').filter((flag) => flag !== '');
}

/** Starts `qwen-vl serve` on a free port; resolves with its URL once it listens. */
function startServer(model: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0', '--max-queue', '64', '--max-batch', String(MAX_BATCH), ...serverFlags()], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr += text;
      const match = /on (http:\/\/\S+) /.exec(stderr);
      if (match !== null) resolve({ child, url: match[1] });
    });
    child.once('exit', () => reject(new Error(`qwen-vl serve exited: ${stderr}`)));
  });
}

/** Sends one streamed request and times its first token and its end. */
async function send(url: string, request: BenchRequest, index: number): Promise<Sample> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request.body) });
  if (response.status !== 200 || response.body === null) throw new Error(`request ${index} (${request.label}): HTTP ${response.status} ${await response.text()}`);
  let buffer = '';
  let text = '';
  let ttft: number | undefined;
  let completionTokens = 0;
  let done = false;
  const decoder = new TextDecoder();
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.replace(/^data: /, '');
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(data) as { error?: { message: string }; choices: { delta: { content?: string } }[]; usage?: { completion_tokens: number } | null };
      if (chunk.error !== undefined) throw new Error(`request ${index} (${request.label}): ${chunk.error.message}`);
      const piece = chunk.choices[0]?.delta.content ?? '';
      // The first piece of the answer (the role chunk comes with the first token).
      ttft ??= performance.now() - started;
      text += piece;
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
  }
  if (!done) throw new Error(`request ${index} (${request.label}): the stream ended without [DONE]`);
  return { request: index, text, completionTokens, ttftMs: ttft ?? NaN, totalMs: performance.now() - started };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** One sample of Prometheus text, 0 when absent. */
function metric(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

const RSS = 'process_resident_memory_bytes';
const ANSWERED = 'qwen_vl_requests_total{route="/v1/chat/completions",status="200"}';

/** `count` requests (request i is `requests[i % length]`) from `concurrency` clients, each sending its next one when the last ended. */
async function load(url: string, requests: readonly BenchRequest[], count: number, concurrency: number): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        samples.push(await send(url, requests[index % requests.length], index));
      }
    }),
  );
  return { samples, seconds: (performance.now() - started) / 1000 };
}

/** The answers of each distinct request sent alone, one after another: what every loaded one must equal. */
async function answersAlone(url: string, requests: readonly BenchRequest[]): Promise<string[]> {
  const alone: string[] = [];
  for (const [i, request] of requests.entries()) alone.push((await send(url, request, i)).text);
  return alone;
}

/** One table row per concurrency level, after checking every answer and that each request was answered exactly once. */
async function levels(url: string, requests: readonly BenchRequest[], count: number, concurrencies: readonly number[]): Promise<string[][]> {
  const alone = await answersAlone(url, requests);
  const rows: string[][] = [];
  for (const concurrency of concurrencies) {
    const before = await scrape(url);
    const { samples, seconds } = await load(url, requests, count, concurrency);
    const after = await scrape(url);
    const mismatched = samples.filter((sample) => sample.text !== alone[sample.request % requests.length]);
    if (mismatched.length > 0) throw new Error(`${mismatched.length} answers under load differ from the same request alone, e.g. request ${mismatched[0].request}`);
    const answered = metric(after, ANSWERED) - metric(before, ANSWERED);
    if (new Set(samples.map((sample) => sample.request)).size !== count || answered !== count) {
      throw new Error(`${count} requests sent, ${samples.length} answers received, the server answered ${answered}`);
    }
    const tokens = samples.reduce((sum, sample) => sum + sample.completionTokens, 0);
    const ttft = samples.map((sample) => sample.ttftMs);
    const total = samples.map((sample) => sample.totalMs);
    rows.push([
      String(concurrency),
      `${(count / seconds).toFixed(1)} req/s`,
      `${(tokens / seconds).toFixed(1)} tokens/s`,
      `${percentile(ttft, 50).toFixed(0)} / ${percentile(ttft, 99).toFixed(0)} ms`,
      `${percentile(total, 50).toFixed(0)} / ${percentile(total, 99).toFixed(0)} ms`,
      `${(metric(before, RSS) / 2 ** 20).toFixed(0)} → ${(metric(after, RSS) / 2 ** 20).toFixed(0)} MB`,
      `${count - mismatched.length}/${count}`,
    ]);
  }
  return rows;
}

const HEADER = ['concurrency', 'throughput', 'generated', 'first token p50 / p99', 'total p50 / p99', 'server RSS before → after', 'equal to alone'];

/** Throughput of the highest level over the lowest's, from the table's rows. */
function speedup(rows: readonly string[][]): string {
  const rate = (row: readonly string[]) => Number.parseFloat(row[1]);
  return `${(rate(rows.at(-1)!) / rate(rows[0])).toFixed(2)}×`;
}

export async function runServeBench(): Promise<void> {
  const model = await benchModel();
  const { child, url } = await startServer(model);
  try {
    const id = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0].id;
    const requests = await benchRequests(id);
    console.log(
      `qwen-vl serve ${['--max-batch', MAX_BATCH, ...serverFlags()].join(' ')} on ${model}: ${requests.length} distinct greedy requests (shapes questions, image as data: URL, streamed), ${REQUESTS} per concurrency level`,
    );
    const short = await levels(url, requests, REQUESTS, CONCURRENCY);
    printTable(HEADER, short);
    console.log(`concurrency ${CONCURRENCY.at(-1)} / concurrency ${CONCURRENCY[0]}: ${speedup(short)} the throughput\n`);

    const long = requests.map((request) => ({ label: request.label, body: { ...request.body, ...LONG_ANSWER } }));
    console.log(`the same with long answers (max_tokens ${LONG_ANSWER.max_tokens}, ignore_eos), ${LONG_REQUESTS} per concurrency level`);
    const longRows = await levels(url, long, LONG_REQUESTS, LONG_CONCURRENCY);
    printTable(HEADER, longRows);
    console.log(`concurrency ${LONG_CONCURRENCY.at(-1)} / concurrency ${LONG_CONCURRENCY[0]}: ${speedup(longRows)} the throughput\n`);

    console.log(`the same questions with their pictures as ${PHOTO.width}×${PHOTO.height} JPEGs, ${PHOTO_REQUESTS} per concurrency level`);
    const photoRows = await levels(url, await photoRequests(requests), PHOTO_REQUESTS, LONG_CONCURRENCY);
    printTable(HEADER, photoRows);
    console.log(`concurrency ${LONG_CONCURRENCY.at(-1)} / concurrency ${LONG_CONCURRENCY[0]}: ${speedup(photoRows)} the throughput\n`);

    const before = metric(await scrape(url), RSS);
    const { samples } = await load(url, requests, RSS_REQUESTS, CONCURRENCY.at(-1)!);
    const after = metric(await scrape(url), RSS);
    if (samples.length !== RSS_REQUESTS) throw new Error(`${RSS_REQUESTS} requests sent, ${samples.length} answered`);
    console.log(
      `RSS over ${RSS_REQUESTS} more requests (concurrency ${CONCURRENCY.at(-1)}, after the above as warm-up): ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MB (${(((after - before) / before) * 100).toFixed(1)}%)`,
    );
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
