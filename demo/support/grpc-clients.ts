/**
 * gRPC clients of the emulated Service, with @grpc/grpc-js as real services
 * use it: one channel per client (one long-lived HTTP/2 connection, re-dialled
 * through the Service when it closes or receives GOAWAY), unary calls one
 * after the other, and server-streaming calls that each last a few seconds.
 * Messages are JSON (see demo/legacy-app.ts); grpc-js frames them as usual.
 */
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint } from './traffic.ts';
import { ClientGroup } from './client-group.ts';

export interface GrpcPlan {
  readonly unaryClients: number;
  readonly unaryPauseMs: number;
  readonly streamClients: number;
  /** Each streaming call asks for this many messages, one every streamIntervalMs. */
  readonly streamMessages: number;
  readonly streamIntervalMs: number;
  /** No call starts after this. */
  readonly durationMs: number;
  /** Per-call deadline. */
  readonly deadlineMs: number;
}

export interface GrpcCall {
  readonly client: number;
  readonly method: 'Echo' | 'Ticks';
  readonly startedAt: number;
  readonly endedAt: number;
  /** The gRPC status code (0 is OK). */
  readonly code: number;
  readonly details: string;
  readonly messages: number;
  /** A call fails on a non-OK status, or a stream that ended OK with messages missing. */
  readonly failed: boolean;
}

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
};

const method = (name: string, responseStream: boolean): grpc.MethodDefinition<unknown, unknown> => ({
  path: `/drainproxy.demo.Demo/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});

const DemoClient = grpc.makeGenericClientConstructor({ Echo: method('Echo', false), Ticks: method('Ticks', true) }, 'Demo');

type DemoStub = grpc.Client & {
  Echo(request: unknown, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, reply?: unknown) => void): grpc.ClientUnaryCall;
  Ticks(request: unknown, options: grpc.CallOptions): grpc.ClientReadableStream<unknown>;
};

export class GrpcClients extends ClientGroup<GrpcPlan> {
  readonly calls: GrpcCall[] = [];
  readonly #target: string;

  constructor(service: Endpoint, plan: GrpcPlan, clock: () => number) {
    super(plan, clock);
    this.#target = `${service.host}:${service.port}`;
  }

  #record(client: number, name: GrpcCall['method'], startedAt: number, code: number, details: string, messages: number): void {
    const failed = code !== grpc.status.OK || (name === 'Ticks' && messages !== this.plan.streamMessages);
    this.calls.push({ client, method: name, startedAt, endedAt: this.clock(), code, details, messages, failed });
  }

  #deadline(): Date {
    return new Date(Date.now() + this.plan.deadlineMs);
  }

  async #unaryClient(client: number, stub: DemoStub): Promise<void> {
    const maxCalls = Math.ceil(this.plan.durationMs / Math.max(1, this.plan.unaryPauseMs)) + 1;
    for (let sent = 0; sent < maxCalls && this.open; sent++) {
      const startedAt = this.clock();
      await new Promise<void>((resolve) => {
        stub.Echo({ text: `call ${sent}` }, { deadline: this.#deadline() }, (err) => {
          this.#record(client, 'Echo', startedAt, err?.code ?? grpc.status.OK, err?.details ?? '', err === null ? 1 : 0);
          resolve();
        });
      });
      await sleep(this.plan.unaryPauseMs);
    }
  }

  async #streamClient(client: number, stub: DemoStub): Promise<void> {
    const { streamMessages: count, streamIntervalMs: intervalMs } = this.plan;
    const maxCalls = Math.ceil(this.plan.durationMs / Math.max(1, count * intervalMs)) + 1;
    for (let sent = 0; sent < maxCalls && this.open; sent++) {
      const startedAt = this.clock();
      await new Promise<void>((resolve) => {
        let messages = 0;
        const call = stub.Ticks({ count, intervalMs }, { deadline: this.#deadline() });
        call.on('data', () => messages++);
        call.on('error', () => {
          // The status event carries the code.
        });
        call.on('status', (status: grpc.StatusObject) => {
          this.#record(client, 'Ticks', startedAt, status.code, status.details, messages);
          resolve();
        });
      });
    }
  }

  /** Runs every client until stop() (or the plan's duration); resolves when every call has ended. */
  async run(): Promise<void> {
    const stubs: DemoStub[] = [];
    const newStub = (): DemoStub => {
      const stub = new DemoClient(this.#target, grpc.credentials.createInsecure()) as unknown as DemoStub;
      stubs.push(stub);
      return stub;
    };
    const clients: Promise<void>[] = [];
    for (let i = 0; i < this.plan.unaryClients; i++) clients.push(this.#unaryClient(i, newStub()));
    for (let i = 0; i < this.plan.streamClients; i++) clients.push(this.#streamClient(this.plan.unaryClients + i, newStub()));
    try {
      await Promise.all(clients);
    } finally {
      for (const stub of stubs) stub.close();
    }
  }
}

/** One connection of a long-lived client: when it became usable, and the pod its first answer came from. */
export interface ChannelConnection {
  readonly client: number;
  /** On the clients' clock. */
  readonly startedAt: number;
  pod: string | undefined;
}

export interface ChannelPlan {
  readonly channels: number;
  /** Each channel makes one unary call this often. */
  readonly callEveryMs: number;
  /** The channels start this far apart, so the Service spreads them over the pods. */
  readonly staggerMs: number;
  readonly durationMs: number;
  readonly deadlineMs: number;
}

/**
 * gRPC channels as services hold them for the reconnect measurement: each
 * channel (@grpc/grpc-js, its default pick_first policy, a connection of its
 * own as if each were a client process) makes a unary call
 * every callEveryMs and is otherwise idle. pick_first reconnects lazily: after
 * a GOAWAY or a close the channel goes IDLE and dials again with its next call
 * (through the Service, so possibly to another pod). Every connection is
 * recorded when the channel turns READY, with the pod that answered first on
 * it; every failed call is counted.
 */
export class GrpcChannels extends ClientGroup<ChannelPlan> {
  readonly connections: ChannelConnection[] = [];
  readonly failures: GrpcCall[] = [];
  calls = 0;
  readonly #target: string;

  constructor(service: Endpoint, plan: ChannelPlan, clock: () => number) {
    super(plan, clock);
    this.#target = `${service.host}:${service.port}`;
  }

  async #channel(client: number): Promise<void> {
    await sleep(client * this.plan.staggerMs);
    // Its own connection, as a channel in its own client process has: grpc-js shares one among a process's channels.
    const stub = new DemoClient(this.#target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as DemoStub;
    const channel = stub.getChannel();
    let latest: ChannelConnection | undefined;
    let watching = true;
    const watch = (state: grpc.connectivityState): void => {
      channel.watchConnectivityState(state, Date.now() + this.plan.durationMs, (err) => {
        if (err !== undefined || !watching) return;
        const next = channel.getConnectivityState(false);
        if (next === grpc.connectivityState.READY) {
          latest = { client, startedAt: this.clock(), pod: undefined };
          this.connections.push(latest);
        }
        watch(next);
      });
    };
    watch(channel.getConnectivityState(false));
    const maxCalls = Math.ceil(this.plan.durationMs / Math.max(1, this.plan.callEveryMs)) + 1;
    try {
      for (let sent = 0; sent < maxCalls && this.open; sent++) {
        const startedAt = this.clock();
        await new Promise<void>((resolve) => {
          stub.Echo({ text: `call ${sent}` }, { deadline: new Date(Date.now() + this.plan.deadlineMs) }, (err, reply) => {
            this.calls++;
            if (err !== null) {
              this.failures.push({ client, method: 'Echo', startedAt, endedAt: this.clock(), code: err.code, details: err.details, messages: 0, failed: true });
            } else if (latest !== undefined) {
              latest.pod ??= (reply as { pod?: string }).pod;
            }
            resolve();
          });
        });
        await sleep(Math.max(0, startedAt + this.plan.callEveryMs - this.clock()));
      }
    } finally {
      watching = false;
      stub.close();
    }
  }

  /** Runs every channel until stop() (or the plan's duration); resolves when the last call has ended. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.plan.channels }, (_, client) => this.#channel(client)));
  }
}
