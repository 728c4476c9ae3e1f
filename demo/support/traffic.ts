/**
 * The clients of the emulated Service: keep-alive HTTP clients that spread
 * requests over the endpoints they currently know, the way a client behind
 * kube-proxy or a client-side load balancer does. The endpoint list is updated
 * from outside, late, like a real one.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientGroup } from './client-group.ts';

export interface Endpoint {
  readonly pod: string;
  readonly host: string;
  readonly port: number;
}

export class EndpointList {
  #endpoints: Endpoint[];

  constructor(endpoints: readonly Endpoint[]) {
    this.#endpoints = [...endpoints];
  }

  get pods(): string[] {
    return this.#endpoints.map((endpoint) => endpoint.pod);
  }

  remove(pod: string): void {
    this.#endpoints = this.#endpoints.filter((endpoint) => endpoint.pod !== pod);
  }

  /**
   * Round robin over the endpoints known right now; each client counts its own
   * turns, so that every client, the slow one included, alternates pods.
   */
  pick(turn: number): Endpoint | undefined {
    if (this.#endpoints.length === 0) return undefined;
    return this.#endpoints[turn % this.#endpoints.length];
  }
}

export const FAILURE_KINDS = ['reset', 'refused', '5xx', 'timeout', 'other'] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export interface Outcome {
  readonly pod: string;
  readonly path: string;
  readonly kind: 'ok' | FailureKind;
  /** Status code, or the error code / message of a failure. */
  readonly detail: string;
  /** Milliseconds on the load generator's clock. */
  readonly startedAt: number;
  readonly endedAt: number;
  /** The response carried `Connection: close`. */
  readonly connectionClose: boolean;
  /** The (last) attempt went out on a keep-alive connection that had served an earlier request. */
  readonly reusedSocket?: boolean;
  /** Errors of earlier attempts on reused connections closed before any response (sent again, RFC 9112 section 9.3.1). */
  readonly retried: readonly string[];
}

function failureKindOf(err: NodeJS.ErrnoException): FailureKind {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET': // also "socket hang up" and a response body cut short ("aborted")
    case 'EPIPE':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'other';
  }
}

/**
 * How often a request that failed on a reused keep-alive connection before any
 * response arrived is sent again on another one. HTTP/1.1 gives a server no
 * way to close an idle connection without racing a request the client sends at
 * that instant, and leaves the race to clients (RFC 9112 section 9.3.1): Go's
 * net/http retries idempotent requests in exactly this case, as do browsers
 * and curl; Node's http.Agent does not, so the emulated clients do it here.
 */
const REUSED_CONNECTION_RETRIES = 2;

interface Attempt {
  readonly kind: Outcome['kind'];
  readonly detail: string;
  readonly connectionClose: boolean;
  readonly reusedSocket: boolean;
  /** Failed on a reused connection before any byte of a response: safe to send again (GET). */
  readonly retryable: boolean;
}

function attempt(agent: http.Agent, endpoint: Endpoint, path: string, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    let settled = false;
    let answered = false;
    const settle = (kind: Outcome['kind'], detail: string, connectionClose = false): void => {
      if (settled) return;
      settled = true;
      const retryable = !answered && req.reusedSocket && kind === 'reset';
      resolve({ kind, detail, connectionClose, reusedSocket: req.reusedSocket, retryable });
    };
    const req = http.get({ host: endpoint.host, port: endpoint.port, path, agent, timeout: timeoutMs }, (res) => {
      answered = true;
      const status = res.statusCode ?? 0;
      const connectionClose = /\bclose\b/i.test(res.headers.connection ?? '');
      res.on('error', (err: NodeJS.ErrnoException) => settle(failureKindOf(err), err.code ?? err.message));
      res.on('close', () => {
        if (!res.complete) settle('reset', 'response cut short');
      });
      res.on('end', () => {
        if (status >= 500) settle('5xx', String(status), connectionClose);
        else if (status >= 200 && status < 300) settle('ok', String(status), connectionClose);
        else settle('other', String(status), connectionClose);
      });
      res.resume();
    });
    req.on('timeout', () => {
      const err: NodeJS.ErrnoException = new Error(`no answer within ${timeoutMs} ms`);
      err.code = 'ETIMEDOUT';
      req.destroy(err);
    });
    req.on('error', (err: NodeJS.ErrnoException) => settle(failureKindOf(err), err.code ?? err.message));
  });
}

/** One GET, sent again (at most REUSED_CONNECTION_RETRIES times) when a reused connection was closed under it. */
export async function sendRequest(
  agent: http.Agent,
  endpoint: Endpoint,
  path: string,
  timeoutMs: number,
  clock: () => number,
): Promise<Outcome> {
  const startedAt = clock();
  let result = await attempt(agent, endpoint, path, timeoutMs);
  const retried: string[] = [];
  while (result.retryable && retried.length < REUSED_CONNECTION_RETRIES) {
    retried.push(result.detail);
    result = await attempt(agent, endpoint, path, timeoutMs);
  }
  return {
    pod: endpoint.pod,
    path,
    kind: result.kind,
    detail: result.detail,
    startedAt,
    endedAt: clock(),
    connectionClose: result.connectionClose,
    reusedSocket: result.reusedSocket,
    retried,
  };
}

export interface LoadPlan {
  /** Sequential clients, each with its own keep-alive agent, sending GET / one after the other. */
  readonly quickClients: number;
  readonly quickPauseMs: number;
  /** One slow request (GET /slow?ms=slowMs) is started every slowEveryMs, without waiting for the previous. */
  readonly slowEveryMs: number;
  readonly slowMs: number;
  /** No request starts after this; slow ones stop starting early enough to end by then. */
  readonly durationMs: number;
  readonly requestTimeoutMs: number;
}

/** Its clock (`clock`, the one the other client groups are given) counts milliseconds since it was created. */
export class LoadGenerator extends ClientGroup<LoadPlan> {
  readonly outcomes: Outcome[] = [];
  readonly #endpoints: EndpointList;
  readonly #agents: http.Agent[] = [];

  constructor(endpoints: EndpointList, plan: LoadPlan) {
    const startedAt = performance.now();
    super(plan, () => performance.now() - startedAt);
    this.#endpoints = endpoints;
  }

  #newAgent(): http.Agent {
    const agent = new http.Agent({ keepAlive: true });
    this.#agents.push(agent);
    return agent;
  }

  async #send(agent: http.Agent, turn: number, path: string): Promise<void> {
    const endpoint = this.#endpoints.pick(turn);
    if (endpoint === undefined) return;
    this.outcomes.push(await sendRequest(agent, endpoint, path, this.plan.requestTimeoutMs, this.clock));
  }

  async #quickClient(firstTurn: number): Promise<void> {
    const agent = this.#newAgent();
    const maxRequests = Math.ceil(this.plan.durationMs / Math.max(1, this.plan.quickPauseMs)) + 1;
    for (let sent = 0; sent < maxRequests && this.open; sent++) {
      await this.#send(agent, firstTurn + sent, '/');
      await sleep(this.plan.quickPauseMs);
    }
  }

  async #slowClient(): Promise<void> {
    const agent = this.#newAgent();
    const inFlight: Promise<void>[] = [];
    const maxRequests = Math.floor((this.plan.durationMs - this.plan.slowMs) / this.plan.slowEveryMs) + 1;
    for (let sent = 0; sent < maxRequests && this.remainingMs >= this.plan.slowMs; sent++) {
      inFlight.push(this.#send(agent, sent, `/slow?ms=${this.plan.slowMs}`));
      await sleep(this.plan.slowEveryMs);
    }
    await Promise.all(inFlight);
  }

  /** Runs the whole plan; resolves when every request has an outcome. */
  async run(): Promise<void> {
    const clients = [this.#slowClient()];
    for (let i = 0; i < this.plan.quickClients; i++) clients.push(this.#quickClient(i));
    try {
      await Promise.all(clients);
    } finally {
      for (const agent of this.#agents) agent.destroy();
    }
  }
}
