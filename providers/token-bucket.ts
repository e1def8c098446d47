// A token bucket that paces sends to a rate (messages per second) and lets callers wait for their turn.
//
// Semantics, chosen so a measured rate comes out at the setting:
// - Tokens accrue continuously at `rate` per second, computed from the clock on every call (no ticking
//   timer), so timer lateness never loses throughput: a waiter woken late finds the tokens it missed.
// - A new bucket holds ONE token, not a full burst: a bucket created for a run starts sending at the
//   rate straight away instead of front-loading `burst` messages. It fills up to `burst` only while idle.
// - take(n) waits until n tokens are there, first come first served (a small request never overtakes a
//   big one, so a big one cannot starve). n may exceed `burst`: while somebody waits, tokens accrue
//   beyond the cap (up to the head's n + burst), so take(250) on a burst-1 bucket at 100/s resolves
//   once per 2.5 s, and a chunked sender still averages exactly the rate.
// - Rate Infinity means "no limit": take() resolves at once.
// - The clock is injectable (`now`, milliseconds, monotonic); waiting uses real timers, so a test with a
//   fake clock fakes both (jest modern timers).

export class TokenBucketAbortedError extends Error {
  override name = 'TokenBucketAbortedError';
}

interface Waiter {
  n: number;
  resolve(): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Float dust below this many tokens counts as "enough" (a refill computed from ms never lands exactly). */
const EPSILON = 1e-9;

function checkRate(r: number): number {
  if (typeof r !== 'number' || Number.isNaN(r) || r <= 0) throw new RangeError(`rate must be a positive number of tokens per second (or Infinity), got ${r}`);
  return r;
}

/** Default burst: a tenth of a second's worth of tokens (at least 1). Absorbs up to 100 ms of event-loop lag. */
function defaultBurst(rate: number): number {
  return Number.isFinite(rate) ? Math.max(1, rate / 10) : 1;
}

export class TokenBucket {
  private rate: number;
  private burst: number;
  private readonly burstGiven: boolean;
  private tokens: number;
  private last: number;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param ratePerSecond tokens added per second (> 0; Infinity = unlimited)
   * @param burst most tokens kept while idle (default: max(1, rate / 10)); also the most that can be
   *   taken at once without waiting
   * @param now clock in milliseconds (default performance.now(), monotonic)
   */
  constructor(
    ratePerSecond: number,
    burst?: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.rate = checkRate(ratePerSecond);
    if (burst !== undefined && !(burst > 0 && Number.isFinite(burst))) throw new RangeError(`burst must be a positive finite number, got ${burst}`);
    this.burstGiven = burst !== undefined;
    this.burst = burst ?? defaultBurst(this.rate);
    this.tokens = Math.min(1, this.burst);
    this.last = this.now();
  }

  get ratePerSecond(): number {
    return this.rate;
  }

  get capacity(): number {
    return this.burst;
  }

  /** Tokens available right now (negative never; fractional possible). */
  get available(): number {
    this.refill();
    return this.tokens;
  }

  /** Callers currently waiting in take(). */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Waits until `n` tokens are available and takes them. Rejects with the signal's reason (or a
   * TokenBucketAbortedError) if `signal` aborts first; the tokens are then not taken.
   */
  take(n = 1, signal?: AbortSignal): Promise<void> {
    checkCount(n);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (n === 0 || this.rate === Infinity) return Promise.resolve();
    this.refill();
    if (this.queue.length === 0 && this.tokens + EPSILON >= n) {
      this.tokens -= n;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { n, resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortReason(signal));
          this.drain(); // the head may have changed
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      if (this.queue.length === 1) this.drain();
    });
  }

  /** Takes `n` tokens if they are there right now and nobody is waiting; never waits. */
  tryTake(n = 1): boolean {
    checkCount(n);
    if (n === 0 || this.rate === Infinity) return true;
    this.refill();
    if (this.queue.length > 0 || this.tokens + EPSILON < n) return false;
    this.tokens -= n;
    return true;
  }

  /**
   * Changes the rate from now on (tokens accrued so far keep the old rate). A burst that was not given
   * explicitly follows the new rate. Waiters are rescheduled at once.
   */
  setRate(ratePerSecond: number): void {
    checkRate(ratePerSecond);
    this.refill();
    this.rate = ratePerSecond;
    if (!this.burstGiven) this.burst = defaultBurst(ratePerSecond);
    if (this.queue.length === 0) this.tokens = Math.min(this.tokens, this.burst);
    this.drain();
  }

  /** Rejects every waiter (e.g. on shutdown) and stops the timer. The bucket stays usable. */
  cancelAll(reason: unknown = new TokenBucketAbortedError('token bucket cancelled')): void {
    this.clearTimer();
    for (const w of this.queue.splice(0)) {
      this.detach(w);
      w.reject(reason);
    }
  }

  private refill(): void {
    const t = this.now();
    if (!(t > this.last)) return; // a clock that stands still or steps back adds nothing
    const elapsedMs = t - this.last;
    this.last = t;
    if (this.rate === Infinity) {
      this.tokens = this.burst;
      return;
    }
    // While someone waits, let tokens accrue past the burst up to what the head needs (+ burst, to
    // absorb a late timer); otherwise the idle cap is the burst.
    const head = this.queue[0];
    const cap = head ? Math.max(this.burst, head.n + this.burst) : this.burst;
    if (this.tokens < cap) this.tokens = Math.min(cap, this.tokens + (elapsedMs * this.rate) / 1000);
  }

  private drain(): void {
    this.clearTimer();
    this.refill();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (this.rate !== Infinity && this.tokens + EPSILON < head.n) break;
      this.queue.shift();
      if (this.rate !== Infinity) this.tokens -= head.n;
      this.detach(head);
      head.resolve();
    }
    if (this.queue.length === 0) {
      this.tokens = Math.min(this.tokens, this.burst);
      return;
    }
    const missing = this.queue[0].n - this.tokens;
    // Round up so the timer does not fire a hair early and have to sleep again (it would still be
    // correct, just wasteful); late is fine, tokens accrue from the clock.
    const waitMs = Math.max(1, Math.ceil((missing * 1000) / this.rate));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, waitMs);
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private detach(w: Waiter): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
  }
}

function checkCount(n: number): void {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new RangeError(`token count must be a finite number >= 0, got ${n}`);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new TokenBucketAbortedError('aborted while waiting for tokens');
}
