import { Logger } from '@nestjs/common';

/**
 * A warning that may recur on every request (a refused connection under
 * load): logged at most once per `intervalMs`, the next line saying how
 * many were left out since. One line per read would flood the log exactly
 * when the operator needs it.
 */
export class RareWarning {
  private lastAt = -Infinity;
  private leftOut = 0;

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  warn(message: string): void {
    const at = this.now();
    if (at - this.lastAt < this.intervalMs) {
      this.leftOut++;
      return;
    }
    const since = this.leftOut > 0 ? ` (${this.leftOut} more like it since the last one)` : '';
    this.logger.warn(`${message}${since}`);
    this.lastAt = at;
    this.leftOut = 0;
  }
}
