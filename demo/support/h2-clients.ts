/**
 * Raw HTTP/2 clients of the emulated Service (node:http2, cleartext with prior
 * knowledge) for the reconnect measurement: each keeps one session and sends
 * `GET /` every requestEveryMs on it; when the session receives a GOAWAY or
 * closes, the client dials a new one at once, as clients that keep their
 * connections warm do (grpc-js and grpc-go with round_robin, most HTTP/2
 * connection pools). Every connection is recorded with the pod that answered
 * first on it (the app's `x-served-by`), every failed request counted; a
 * request the client's own stack refused because the GOAWAY was already in
 * (REFUSED_STREAM, never sent) is sent again on the next session.
 */
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelConnection } from './grpc-clients.ts';
import type { Endpoint } from './traffic.ts';
import { ClientGroup } from './client-group.ts';

export interface H2ClientPlan {
  readonly clients: number;
  readonly requestEveryMs: number;
  readonly staggerMs: number;
  readonly durationMs: number;
  readonly requestTimeoutMs: number;
}

/** Sessions per client at most: bounds the reconnect loop whatever happens. */
const MAX_SESSIONS_PER_CLIENT = 200;
/** After a session broke (not a GOAWAY), wait this long before dialling again. */
const BROKEN_RECONNECT_DELAY_MS = 100;

type Answer = { kind: 'ok'; pod: string | undefined } | { kind: 'refused' } | { kind: 'failed'; detail: string };

export class H2Clients extends ClientGroup<H2ClientPlan> {
  readonly connections: ChannelConnection[] = [];
  readonly failures: Array<{ client: number; at: number; detail: string }> = [];
  requests = 0;
  /** Requests refused by the client's stack because they raced a GOAWAY (sent again on the next session). */
  refusedAndRetried = 0;
  readonly #url: string;

  constructor(service: Endpoint, plan: H2ClientPlan, clock: () => number) {
    super(plan, clock);
    this.#url = `http://${service.host}:${service.port}`;
  }

  #request(session: ClientHttp2Session): Promise<Answer> {
    return new Promise((resolve) => {
      let stream;
      try {
        stream = session.request({ ':path': '/' });
      } catch {
        resolve({ kind: 'refused' });
        return;
      }
      let pod: string | undefined;
      let status: number | undefined;
      stream.setTimeout(this.plan.requestTimeoutMs, () => stream.close(constants.NGHTTP2_CANCEL));
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
        pod = headers['x-served-by'] as string | undefined;
      });
      stream.on('error', () => {});
      stream.resume();
      stream.on('close', () => {
        if (status === 200 && stream.rstCode === constants.NGHTTP2_NO_ERROR) resolve({ kind: 'ok', pod });
        else if (status === undefined && stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) resolve({ kind: 'refused' });
        else resolve({ kind: 'failed', detail: status === undefined ? `stream reset ${stream.rstCode}` : `status ${status}` });
      });
    });
  }

  async #client(client: number): Promise<void> {
    await sleep(client * this.plan.staggerMs);
    for (let sessions = 0; sessions < MAX_SESSIONS_PER_CLIENT && this.open; sessions++) {
      const session = connect(this.#url);
      let over: 'goaway' | 'broken' | undefined;
      let wake = (): void => {};
      const ended = (how: 'goaway' | 'broken') => (): void => {
        over ??= how;
        wake();
      };
      session.on('error', ended('broken'));
      session.on('goaway', ended('goaway'));
      session.on('close', ended('broken'));
      let connection: ChannelConnection | undefined;
      while (over === undefined && this.open) {
        const sentAt = this.clock();
        const answer = await this.#request(session);
        // Refused by the client's own stack: never sent, it goes first on the next session.
        if (answer.kind === 'refused') {
          this.refusedAndRetried++;
          break;
        }
        this.requests++;
        if (answer.kind === 'failed') {
          this.failures.push({ client, at: this.clock(), detail: answer.detail });
        } else if (connection === undefined) {
          connection = { client, startedAt: sentAt, pod: answer.pod };
          this.connections.push(connection);
        }
        // Until the next request, or the session's end: a GOAWAY brings the new session at once.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, sentAt + this.plan.requestEveryMs - this.clock()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      session.close();
      if (over !== 'goaway') await sleep(BROKEN_RECONNECT_DELAY_MS);
    }
  }

  /** Runs every client until stop() (or the plan's duration); resolves when every client is done. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.plan.clients }, (_, client) => this.#client(client)));
  }
}
