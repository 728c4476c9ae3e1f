/**
 * Whether the app behind the proxy can take traffic: a TCP connect, or an HTTP
 * GET whose 2xx/3xx answer means healthy. Checked on a fixed interval and at
 * once when a proxied connection to the app fails, so readiness drops within
 * one round trip of the app going away instead of at the next tick.
 */
import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import { http } from '../builtins.ts';
import type { UpstreamAddress, UpstreamHealth as HealthMethod } from '../config/index.ts';

export class UpstreamHealth extends EventEmitter<{ change: [healthy: boolean] }> {
  #healthy = false;
  #checks = 0;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #checking = false;
  #again = false;
  readonly #address: UpstreamAddress;
  readonly #method: HealthMethod;
  readonly #intervalMs: number;

  constructor(address: UpstreamAddress, method: HealthMethod, intervalMs: number) {
    super();
    this.#address = address;
    this.#method = method;
    this.#intervalMs = intervalMs;
  }

  /** False until the first successful check. */
  get healthy(): boolean {
    return this.#healthy;
  }

  get checks(): number {
    return this.#checks;
  }

  start(): void {
    this.#running = true;
    this.checkNow();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  /** Runs a check now (or right after the one under way) and restarts the interval. */
  checkNow(): void {
    if (!this.#running) return;
    if (this.#checking) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#checking = true;
    void this.#probe().then((healthy) => {
      this.#checking = false;
      this.#checks++;
      if (healthy !== this.#healthy) {
        this.#healthy = healthy;
        this.emit('change', healthy);
      }
      if (!this.#running) return;
      if (this.#again) {
        this.#again = false;
        this.checkNow();
      } else {
        this.#timer = setTimeout(() => this.checkNow(), this.#intervalMs);
      }
    });
  }

  #probe(): Promise<boolean> {
    const { host, port } = this.#address;
    const timeout = this.#intervalMs;
    const method = this.#method;
    return new Promise((resolve) => {
      if (method.kind === 'tcp') {
        const socket = connect({ host, port });
        socket.setTimeout(timeout, () => socket.destroy());
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
        socket.once('close', () => resolve(false));
        return;
      }
      const req = http.request({ host, port, path: method.path, method: 'GET', agent: false, timeout, headers: { 'user-agent': 'drain-proxy-health' } });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        resolve(status >= 200 && status < 400);
      });
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(false));
      req.end();
    });
  }
}
