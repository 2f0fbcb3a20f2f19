/**
 * A queue that hands out batches: up to `max` in weight (items count 1
 * each unless `weightOf` says otherwise, e.g. the bars of a batch event),
 * waiting for the first one, then at most `waitMs` after it arrived for the
 * batch to fill. A batch holds at least one item, whatever its weight. Items
 * left over from a full batch are handed out at once (they have waited).
 */
export class MessageBatcher<T> {
  private items: T[] = [];
  /** The weight of `items`. */
  private weight = 0;
  /** When the oldest queued item arrived; 0 when the queue holds leftovers. */
  private oldestAt = 0;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(private readonly weightOf: (item: T) => number = () => 1) {}

  get size(): number {
    return this.items.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(item: T): void {
    if (this.items.length === 0) this.oldestAt = Date.now();
    this.items.push(item);
    this.weight += this.weightOf(item);
    this.signal();
  }

  /** The next batch; empty once the batcher is closed (items left then are returned by close()). */
  async take(max: number, waitMs: number): Promise<T[]> {
    while (this.items.length === 0) {
      if (this.closed) return [];
      await this.waitForSignal();
    }
    const deadline = this.oldestAt + waitMs;
    while (!this.closed && this.weight < max) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.waitForSignal(left);
    }
    let count = 0;
    let weight = 0;
    for (const item of this.items) {
      const next = this.weightOf(item);
      if (count > 0 && weight + next > max) break;
      weight += next;
      count++;
    }
    this.weight -= weight;
    const batch = this.items.splice(0, count);
    this.oldestAt = 0;
    return batch;
  }

  /** Stops handing out batches; returns the items not handed out. */
  close(): T[] {
    this.closed = true;
    this.signal();
    this.weight = 0;
    return this.items.splice(0);
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private waitForSignal(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, timeoutMs);
      }
    });
  }
}
