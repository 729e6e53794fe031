import type { ServerResponse } from 'node:http';

/**
 * Server-sent events on a raw response, as OpenAI streams: `data: <json>` events, then
 * `data: [DONE]`. The headers go out with the first event (in the same write), so a request
 * that fails before it still gets an ordinary error status.
 */
export class EventStream {
  private started = false;

  constructor(private readonly response: ServerResponse) {}

  /** Whether the headers (200, text/event-stream) were sent: from then on a failure can only be an event. */
  get open(): boolean {
    return this.started;
  }

  /** Whether the client is gone (the connection closed before the stream ended). */
  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  send(data: unknown): void {
    this.start();
    if (this.closed) return;
    // The events of one tick (the role and the first token, the finish reason and the usage) leave in one write.
    if (this.response.writableCorked === 0) {
      this.response.cork();
      process.nextTick(() => this.response.uncork());
    }
    this.response.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream with OpenAI's terminator. */
  done(): void {
    this.start();
    if (!this.closed) this.response.end('data: [DONE]\n\n');
  }

  /** Ends the stream without the terminator (after an error event). */
  end(): void {
    if (!this.closed) this.response.end();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Proxies (nginx) must not hold the events back.
      'x-accel-buffering': 'no',
    });
  }
}
