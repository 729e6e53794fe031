/** Seconds buckets for the latency histograms: 5 ms to 5 minutes. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.buckets.forEach((bound, i) => {
      if (value <= bound) this.counts[i]++;
    });
    this.sum += value;
    this.count++;
  }

  lines(name: string): string[] {
    return [...this.buckets.map((bound, i) => `${name}_bucket{le="${bound}"} ${this.counts[i]}`), `${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`];
  }
}

/** What the metrics read when scraped. */
export interface ServerGauges {
  /** Requests waiting for the model. */
  readonly queueLength: number;
  /** Rows of the decoder batch: requests generating now. */
  readonly batchSize: number;
}

/** One finished generation, as the metrics record it. */
export interface GenerationRecord {
  promptTokens: number;
  completionTokens: number;
  /** From the request's arrival to its first token (queueing included). */
  timeToFirstTokenSeconds: number;
  /** Decode speed of the generation (tokens after the first per second of decoding). */
  decodeTokensPerSecond: number;
}

function family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, lines: readonly string[]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines];
}

/** The server's metrics in Prometheus' text format (`GET /metrics`). */
export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  private promptTokens = 0;
  private completionTokens = 0;
  private lastTokensPerSecond = 0;
  private readonly timeToFirstToken = new Histogram(SECONDS_BUCKETS);
  private readonly requestDuration = new Histogram(SECONDS_BUCKETS);

  constructor(private readonly gauges: ServerGauges) {}

  /** A request answered on `route` with HTTP `status`, after `seconds`. */
  requestFinished(route: string, status: number, seconds: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    if (route === '/v1/chat/completions') this.requestDuration.observe(seconds);
  }

  generationFinished(record: GenerationRecord): void {
    this.promptTokens += record.promptTokens;
    this.completionTokens += record.completionTokens;
    this.timeToFirstToken.observe(record.timeToFirstTokenSeconds);
    if (Number.isFinite(record.decodeTokensPerSecond) && record.decodeTokensPerSecond > 0) this.lastTokensPerSecond = record.decodeTokensPerSecond;
  }

  render(): string {
    return `${[
      ...family(
        'qwen_vl_requests_total',
        'counter',
        'Requests answered, by route and HTTP status.',
        [...this.requests].map(([labels, count]) => `qwen_vl_requests_total{${labels}} ${count}`),
      ),
      ...family('qwen_vl_queue_length', 'gauge', 'Chat requests waiting for the model.', [`qwen_vl_queue_length ${this.gauges.queueLength}`]),
      ...family('qwen_vl_batch_size', 'gauge', 'Requests the model is generating for now (rows of the decoder batch).', [`qwen_vl_batch_size ${this.gauges.batchSize}`]),
      ...family('qwen_vl_prompt_tokens_total', 'counter', 'Prompt tokens of finished generations (image tokens included).', [`qwen_vl_prompt_tokens_total ${this.promptTokens}`]),
      ...family('qwen_vl_completion_tokens_total', 'counter', 'Tokens generated; rate() of it is the served tokens/s.', [`qwen_vl_completion_tokens_total ${this.completionTokens}`]),
      ...family('qwen_vl_decode_tokens_per_second', 'gauge', 'Decode speed of the last finished generation.', [`qwen_vl_decode_tokens_per_second ${this.lastTokensPerSecond}`]),
      ...family(
        'qwen_vl_time_to_first_token_seconds',
        'histogram',
        'From a chat request arriving to its first token, queueing included.',
        this.timeToFirstToken.lines('qwen_vl_time_to_first_token_seconds'),
      ),
      ...family('qwen_vl_request_duration_seconds', 'histogram', 'From a chat request arriving to its answer ending.', this.requestDuration.lines('qwen_vl_request_duration_seconds')),
      ...family('process_resident_memory_bytes', 'gauge', 'Resident memory of the server process.', [`process_resident_memory_bytes ${process.memoryUsage.rss()}`]),
    ].join('\n')}\n`;
  }
}
