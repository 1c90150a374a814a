/** One parsed SSE message (comments counted apart). */
export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/** A streaming SSE reader over fetch: records messages and comments until aborted. */
export class SseClient {
  readonly messages: SseMessage[] = [];
  comments = 0;
  readonly done: Promise<void>;
  private readonly abortController = new AbortController();

  private constructor(readonly response: Response) {
    this.done = this.read().catch(() => {});
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    const client = new SseClient(res);
    client.abortController.signal.addEventListener('abort', () => controller.abort());
    return client;
  }

  /** The data of `message` events, parsed. */
  events<T = { id: string; cursor: string; channel: string; data: unknown }>(): T[] {
    return this.messages.filter((m) => m.event === undefined && m.data !== undefined).map((m) => JSON.parse(m.data!) as T);
  }

  /** The last id the stream set (what EventSource would send as Last-Event-ID). */
  get lastEventId(): string | undefined {
    return this.messages.findLast((m) => m.id !== undefined)?.id;
  }

  async waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`SSE condition not met within ${timeoutMs} ms (${this.messages.length} messages)`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  abort(): void {
    this.abortController.abort();
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message: SseMessage = {};
        let fields = 0;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) {
            this.comments++;
            continue;
          }
          const colon = line.indexOf(':');
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id' || field === 'event' || field === 'data') {
            message[field] = value;
            fields++;
          }
        }
        if (fields > 0) this.messages.push(message);
      }
    }
  }
}
