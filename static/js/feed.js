// The event feed: WebSocket first, long-polling when sockets fail, and always resuming from the
// last cursor seen so a reconnect neither loses nor repeats events.

const MAX_BACKOFF_MS = 15000;
// After this many sockets in a row that never opened, or closed before delivering anything within
// a few seconds (a proxy that kills WebSockets), sockets are not working here: long-poll instead.
const WS_FAILURES_BEFORE_POLLING = 3;
const WS_SHORT_LIVED_MS = 5000;
const POLL_TIMEOUT_S = 25;

export class EventFeed {
  /**
   * @param {object} options
   * @param {string} [options.file] only this file's events (and its derivatives')
   * @param {string} [options.collection] only this collection's events (collection.updated)
   * @param {(event: object) => void} options.onEvent
   * @param {(state: "connecting"|"live"|"polling"|"offline") => void} [options.onState]
   */
  constructor({ file = null, collection = null, token = null, onEvent, onState = () => {} }) {
    this.file = file;
    this.collection = collection;
    // A protected collection's manager: its manage token (a query parameter the logs redact).
    this.token = token;
    this.onEvent = onEvent;
    this.onState = onState;
    this.cursor = null;
    this.socket = null;
    this.failures = 0;
    this.wsFailures = 0;
    this.mode = "ws";
    this.stopped = false;
    this.timer = null;
    this.pollAbort = null;
  }

  start() {
    this.stopped = false;
    if (this.mode === "ws" && "WebSocket" in window) this.openSocket();
    else this.poll();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    if (this.pollAbort) this.pollAbort.abort();
    this.onState("offline");
  }

  query(extra = {}) {
    const params = new URLSearchParams();
    if (this.cursor !== null) params.set("cursor", String(this.cursor));
    if (this.file) params.set("file", this.file);
    if (this.collection) params.set("collection", this.collection);
    if (this.token) params.set("token", this.token);
    for (const [key, value] of Object.entries(extra)) params.set(key, String(value));
    return params.toString();
  }

  deliver(event) {
    if (!event || typeof event !== "object") return;
    if (typeof event.cursor === "number") {
      if (this.cursor !== null && event.cursor <= this.cursor) return; // already seen (replay overlap)
      this.cursor = event.cursor;
    }
    try {
      this.onEvent(event);
    } catch (error) {
      console.error("event handler failed", error);
    }
  }

  retryLater(next) {
    if (this.stopped) return;
    this.failures += 1;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.failures - 1, 5)) * (0.75 + Math.random() / 2);
    this.onState("offline");
    this.timer = setTimeout(next, delay);
  }

  openSocket() {
    this.onState("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let openedAt = 0;
    let received = false;
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/ws?${this.query({ format: "json" })}`);
    } catch {
      this.mode = "poll";
      this.poll();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      openedAt = performance.now();
      this.failures = 0;
      this.onState("live");
    });
    socket.addEventListener("message", (message) => {
      if (typeof message.data !== "string") return;
      received = true;
      this.wsFailures = 0;
      try {
        this.deliver(JSON.parse(message.data));
      } catch { /* a frame we do not understand */ }
    });
    socket.addEventListener("close", () => {
      if (this.socket === socket) this.socket = null;
      if (this.stopped) return;
      const shortLived = !openedAt || (!received && performance.now() - openedAt < WS_SHORT_LIVED_MS);
      this.wsFailures = shortLived ? this.wsFailures + 1 : 0;
      if (this.wsFailures >= WS_FAILURES_BEFORE_POLLING) {
        this.mode = "poll";
        this.poll();
      } else {
        this.retryLater(() => this.openSocket());
      }
    });
  }

  async poll() {
    if (this.stopped) return;
    this.onState("polling");
    this.pollAbort = new AbortController();
    try {
      const response = await fetch(`/api/v1/events?${this.query({ timeout: POLL_TIMEOUT_S })}`, {
        headers: { Accept: "application/json" },
        signal: this.pollAbort.signal,
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`events answered ${response.status}`);
      const body = await response.json();
      for (const event of body.events || []) this.deliver(event);
      if (typeof body.cursor === "number" && (this.cursor === null || body.cursor > this.cursor)) {
        this.cursor = body.cursor;
      }
      this.failures = 0;
      this.timer = setTimeout(() => this.poll(), 0);
    } catch (error) {
      if (this.stopped || (error && error.name === "AbortError")) return;
      this.retryLater(() => this.poll());
    }
  }
}
