// A small tus 1.0.0 client for tornado-paste (our own code, no build step).
//
//   import { TusUpload } from "/static/js/tus.js";
//   const up = new TusUpload(file, {
//     metadata: { filename: file.name, filetype: file.type, private: false },
//     onProgress(sent, total) {}, onSuccess(card) {}, onError(err) {},
//   });
//   up.start();  up.pause();  up.resume();  up.abort();
//
// Resumes after network loss (HEAD for the server's offset, then PATCH on) and after a page reload: the
// upload URL is kept in localStorage under a fingerprint of the file (name, size, type, mtime, endpoint).
// Failed requests are retried with growing delays (network errors, 5xx, 409/423 after a HEAD, 429).
// On completion the server's X-File-Location gives the file card, fetched and handed to onSuccess
// (with delete_token added from X-Delete-Token when this upload created the file).

const TUS_VERSION = "1.0.0";
const DEFAULT_CHUNK = 8 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
const STORAGE_PREFIX = "tornado-paste:tus:";

export class TusError extends Error {
  constructor(message, { status = 0, code = "network_error" } = {}) {
    super(message);
    this.name = "TusError";
    this.status = status;
    this.code = code;
  }
}

class Stopped extends Error {}

function base64Utf8(text) {
  const bytes = new TextEncoder().encode(String(text));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function encodeMetadata(metadata) {
  return Object.entries(metadata)
    .filter(([, value]) => value !== undefined && value !== null && value !== false)
    .map(([key, value]) => `${key} ${base64Utf8(value === true ? "true" : value)}`)
    .join(",");
}

function safeStorage(storage) {
  try {
    if (storage) {
      storage.getItem("__probe__");
      return storage;
    }
  } catch (_) {
    // Private mode or storage disabled: resume after reload is simply unavailable.
  }
  return null;
}

/**
 * Unfinished uploads this browser remembers (after a reload, a crash, a closed tab), one per file
 * fingerprint, in storage order. Choosing the same file again resumes it from the server's offset.
 */
export function storedUploads(storage = globalThis.localStorage) {
  const store = safeStorage(storage);
  if (!store) return [];
  const found = [];
  for (let i = 0; i < store.length; i += 1) {
    const key = store.key(i);
    if (!key || !key.startsWith(STORAGE_PREFIX)) continue;
    // `${endpoint}|${name}|${type}|${size}|${lastModified}`: the name may hold "|", the rest cannot.
    const parts = key.slice(STORAGE_PREFIX.length).split("|");
    if (parts.length < 5) continue;
    const lastModified = parts.pop();
    const size = Number(parts.pop());
    const type = parts.pop();
    const endpoint = parts.shift();
    found.push({ key, url: store.getItem(key), endpoint, name: parts.join("|"), type, size, lastModified });
  }
  return found;
}

/** Forget a stored upload; with `terminate`, also DELETE it on the server (tus termination). */
export async function discardStored(entry, { terminate = true, storage = globalThis.localStorage } = {}) {
  try {
    safeStorage(storage)?.removeItem(entry.key);
  } catch (_) {
    // ignore
  }
  if (!terminate || !entry.url) return;
  try {
    await fetch(entry.url, { method: "DELETE", headers: { "Tus-Resumable": TUS_VERSION } });
  } catch (_) {
    // The server expires it anyway.
  }
}

/** The server's view of a stored upload: {offset, length}, or null when it no longer exists. */
export async function describeStored(entry) {
  const response = await fetch(entry.url, { method: "HEAD", headers: { "Tus-Resumable": TUS_VERSION }, cache: "no-store" });
  if (response.status === 404 || response.status === 410 || response.status === 403) return null;
  if (!response.ok) throw new TusError(`HEAD failed with HTTP ${response.status}`, { status: response.status });
  return {
    offset: parseInt(response.headers.get("Upload-Offset") ?? "0", 10) || 0,
    length: parseInt(response.headers.get("Upload-Length") ?? "", 10) || entry.size,
  };
}

export class TusUpload {
  constructor(file, {
    endpoint = "/api/v1/tus/",
    chunkSize = DEFAULT_CHUNK,
    metadata = {},
    onProgress = () => {},
    onSuccess = () => {},
    onError = () => {},
    retryDelays = RETRY_DELAYS,
    storage = globalThis.localStorage,
  } = {}) {
    this.file = file;
    this.endpoint = endpoint;
    this.chunkSize = Math.max(1, chunkSize | 0 || DEFAULT_CHUNK);
    this.metadata = {
      filename: metadata.filename ?? file.name,
      filetype: metadata.filetype ?? file.type,
      private: metadata.private ? "true" : undefined,
      ...(metadata.expires ? { expires: metadata.expires } : {}),
    };
    this.onProgress = onProgress;
    this.onSuccess = onSuccess;
    this.onError = onError;
    this.retryDelays = retryDelays;
    this.storage = safeStorage(storage);
    this.url = null;
    this.offset = 0;
    this._xhr = null;
    this._running = false;
    this._paused = false;
    this._aborted = false;
    this._needsHead = false;
    this._restart = false;
    this._location = null;
    this._deleteToken = null;
    this._wake = null;
    this._onOnline = () => this._wake && this._wake();
  }

  get fingerprint() {
    const f = this.file;
    return `${STORAGE_PREFIX}${this.endpoint}|${f.name}|${f.type}|${f.size}|${f.lastModified ?? ""}`;
  }

  start() {
    if (this._running || this._aborted) return;
    this._paused = false;
    this._loop();
  }

  pause() {
    this._paused = true;
    this._cancelRequest();
    if (this._wake) this._wake();
  }

  resume() {
    if (this._aborted) return;
    this._paused = false;
    // A loop still unwinding from pause() starts again as soon as it has stopped.
    if (this._running) this._restart = true;
    else this._loop();
  }

  // Cancel: stop sending, remove the upload on the server (termination) and forget it.
  async abort() {
    this._aborted = true;
    this._cancelRequest();
    if (this._wake) this._wake();
    this._forget();
    const url = this.url;
    this.url = null;
    if (url) {
      try {
        await this._request("DELETE", url);
      } catch (_) {
        // The server expires it anyway.
      }
    }
  }

  // -- the upload loop -------------------------------------------------------------------------
  async _loop() {
    this._running = true;
    globalThis.addEventListener?.("online", this._onOnline);
    let attempt = 0;
    try {
      while (!this._paused && !this._aborted) {
        try {
          if (!this.url) {
            await this._resumeOrCreate();
          } else if (this._needsHead) {
            await this._head();
          }
          if (this._location) {
            await this._finish();
            return;
          }
          await this._patch();
          attempt = 0;
        } catch (err) {
          if (err instanceof Stopped || this._paused || this._aborted) return;
          if (!this._retryable(err) || attempt >= this.retryDelays.length) {
            this.onError(err);
            return;
          }
          if (err.status === 404 || err.status === 410) {
            // The server forgot the upload (expired or removed): start again from zero.
            this._forget();
            this.url = null;
            this.offset = 0;
            this._location = null;
          } else {
            this._needsHead = true;
          }
          await this._sleep(this.retryDelays[attempt++]);
        }
      }
    } finally {
      this._running = false;
      globalThis.removeEventListener?.("online", this._onOnline);
      if (this._restart) {
        this._restart = false;
        if (!this._paused && !this._aborted) this._loop();
      }
    }
  }

  _retryable(err) {
    const s = err.status ?? 0;
    return s === 0 || s >= 500 || s === 404 || s === 409 || s === 410 || s === 423 || s === 429;
  }

  async _resumeOrCreate() {
    const stored = this.storage?.getItem(this.fingerprint);
    if (stored) {
      this.url = stored;
      try {
        await this._head();
        return;
      } catch (err) {
        if (err.status !== 404 && err.status !== 410 && err.status !== 403) throw err;
        this._forget();
        this.url = null;
      }
    }
    const response = await this._request("POST", this.endpoint, {
      headers: {
        "Upload-Length": String(this.file.size),
        "Upload-Metadata": encodeMetadata(this.metadata),
      },
    });
    const location = response.header("Location");
    if (!location) throw new TusError("the server did not return an upload URL", { status: response.status });
    this.url = new URL(location, globalThis.location?.href).href;
    this.offset = 0;
    this._remember();
    this._takeCompletion(response);
  }

  async _head() {
    const response = await this._request("HEAD", this.url);
    this.offset = parseInt(response.header("Upload-Offset") ?? "0", 10) || 0;
    this._needsHead = false;
    this._takeCompletion(response);
    this.onProgress(this.offset, this.file.size);
  }

  async _patch() {
    const start = this.offset;
    const end = Math.min(start + this.chunkSize, this.file.size);
    const response = await this._request("PATCH", this.url, {
      headers: {
        "Upload-Offset": String(start),
        "Content-Type": "application/offset+octet-stream",
      },
      body: this.file.slice(start, end),
      onUploadProgress: (loaded) => this.onProgress(Math.min(start + loaded, end), this.file.size),
    });
    const offset = parseInt(response.header("Upload-Offset") ?? "", 10);
    if (!Number.isFinite(offset) || offset < start) {
      throw new TusError("the server answered PATCH without a valid Upload-Offset", { status: 409 });
    }
    this.offset = offset;
    this.onProgress(offset, this.file.size);
    this._takeCompletion(response);
  }

  _takeCompletion(response) {
    const location = response.header("X-File-Location");
    if (location) {
      this._location = location;
      this._deleteToken = response.header("X-Delete-Token") || this._deleteToken;
    }
  }

  async _finish() {
    const response = await this._request("GET", this._location, {
      headers: { Accept: "application/json" },
      tus: false,
    });
    let card;
    try {
      card = JSON.parse(response.text);
    } catch (_) {
      throw new TusError("the file card is not JSON", { status: response.status });
    }
    if (this._deleteToken) card.delete_token = this._deleteToken;
    this._forget();
    this.onProgress(this.file.size, this.file.size);
    this.onSuccess(card);
  }

  // -- plumbing --------------------------------------------------------------------------------
  _remember() {
    try {
      this.storage?.setItem(this.fingerprint, this.url);
    } catch (_) {
      // Quota or privacy settings: resume after reload is lost, nothing else.
    }
  }

  _forget() {
    try {
      this.storage?.removeItem(this.fingerprint);
    } catch (_) {
      // ignore
    }
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this._wake = () => {
        this._wake = null;
        done();
      };
    });
  }

  _cancelRequest() {
    const xhr = this._xhr;
    this._xhr = null;
    if (xhr) xhr.abort();
  }

  _request(method, url, { headers = {}, body = null, onUploadProgress = null, tus = true } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this._xhr = xhr;
      xhr.open(method, url, true);
      if (tus) xhr.setRequestHeader("Tus-Resumable", TUS_VERSION);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      if (onUploadProgress && xhr.upload) {
        xhr.upload.onprogress = (event) => onUploadProgress(event.loaded);
      }
      xhr.onload = () => {
        if (this._xhr === xhr) this._xhr = null;
        const response = {
          status: xhr.status,
          text: xhr.responseText,
          header: (name) => xhr.getResponseHeader(name),
        };
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(response);
          return;
        }
        let code = "http_error";
        let message = `${method} failed with HTTP ${xhr.status}`;
        try {
          const error = JSON.parse(xhr.responseText).error;
          if (error) {
            code = error.code || code;
            message = error.message || message;
          }
        } catch (_) {
          // HEAD answers and proxies' pages carry no JSON.
        }
        reject(new TusError(message, { status: xhr.status, code }));
      };
      xhr.onerror = () => {
        if (this._xhr === xhr) this._xhr = null;
        reject(new TusError(`${method} failed: network error`));
      };
      xhr.ontimeout = xhr.onerror;
      xhr.onabort = () => {
        if (this._xhr === xhr) this._xhr = null;
        reject(new Stopped("stopped"));
      };
      xhr.send(body);
    });
  }
}

export default TusUpload;
