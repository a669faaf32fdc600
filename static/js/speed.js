// Upload speed that a person can read: an exponentially weighted moving average of the byte rate,
// weighted by time (not by event count), measured over windows of at least WINDOW_MS.
//
// Why not bytes/elapsed over the last events: the browser reports upload progress when bytes
// leave for the kernel's socket buffer, so the first moments of a request (a start, or a Resume)
// report a burst far above the line's speed (10.4 MiB/s on a 2.8 MiB/s link), and progress events
// come irregularly. So: after a reset the first WARMUP_MS are the baseline and show nothing
// ("measuring…"), then each window of at least WINDOW_MS folds its rate into the average with
// weight 1 - exp(-window / TAU_MS).

const WARMUP_MS = 750;
const WINDOW_MS = 500;
const TAU_MS = 3000;

export class SpeedMeter {
  constructor({ warmup = WARMUP_MS, window = WINDOW_MS, tau = TAU_MS } = {}) {
    this.warmup = warmup;
    this.window = window;
    this.tau = tau;
    this.reset();
  }

  /** Forget everything: the next sample starts a new measurement (on start, Resume, a retry). */
  reset() {
    this.started = null; // [time, bytes] of the first sample after the reset
    this.mark = null; // start of the current window
    this.rate = null; // bytes per second, null while measuring
  }

  /** Record that `bytes` in all have been sent at `now` (ms); returns the current rate or null. */
  sample(bytes, now = performance.now()) {
    if (this.started === null || bytes < this.mark[1]) {
      // First sample, or the count went backwards (a restarted request): a new baseline.
      this.started = [now, bytes];
      this.mark = [now, bytes];
      this.rate = null;
      return null;
    }
    if (this.rate === null && now - this.started[0] < this.warmup) {
      this.mark = [now, bytes]; // the warm-up burst is never measured
      return null;
    }
    const elapsed = now - this.mark[0];
    if (elapsed < this.window) return this.rate;
    const windowRate = ((bytes - this.mark[1]) * 1000) / elapsed;
    if (this.rate === null) {
      this.rate = windowRate;
    } else {
      const weight = 1 - Math.exp(-elapsed / this.tau);
      this.rate += weight * (windowRate - this.rate);
    }
    this.mark = [now, bytes];
    return this.rate;
  }
}
