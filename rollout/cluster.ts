/**
 * The emulated cluster of one scenario: pods on 127.0.1.N (the demo's legacy
 * app, with drain-proxy in front in the drain-proxy scenarios), the kubelet
 * (readiness probes, termination with preStop hooks, SIGTERM ordering, SIGKILL
 * at the grace period), the endpoints controller (pushes ready endpoints to the
 * Service process, late by the propagation lag) and a Deployment rolled with
 * maxSurge 1, maxUnavailable 0.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet } from '../harness/http.ts';
import { startPod, type Pod, type PodAddress, type ProxySettings } from '../demo/support/pods.ts';
import { describeExit, type ExitStatus } from '../harness/processes.ts';
import { startNginxPod } from './nginx-pod.ts';
import { startGoawayFrontPod } from './goaway-pod.ts';

/** 'goaway-t0': the reconnect measurement's baseline, an HTTP/2 front that sends every session its GOAWAY at SIGTERM. */
export type ProxyMode = 'none' | 'nginx' | 'classic' | 'native' | 'goaway-t0';

export interface ScenarioSpec {
  readonly id: string;
  readonly title: string;
  readonly proxy: ProxyMode;
  /** `preStop: sleep N` on the app container (baselines b and c; in c also before nginx's quit), in ms. */
  readonly preStopSleepMs?: number;
  /** Overrides of the cluster's drain-proxy settings for this scenario. */
  readonly proxySettings?: ProxySettings;
}

export interface ClusterSettings {
  readonly proxySettings: ProxySettings;
  readonly probePeriodMs: number;
  readonly probeFailureThreshold: number;
  readonly probeTimeoutMs: number;
  readonly propagationLagMs: number;
  readonly gracePeriodMs: number;
  /** The Deployment's minReadySeconds: a Ready pod counts as available only after this long. */
  readonly minReadyMs: number;
  /** A new pod must be ready within this long, or the rollout gives up. */
  readonly podReadyTimeoutMs: number;
  /** Where sidecars that need files (nginx) keep them. */
  readonly workDir: string;
  /** The t0-GOAWAY front's drain: as drain-proxy's DRAIN_DELAY and DRAIN_TIMEOUT. */
  readonly goawayFront: { readonly drainDelayMs: number; readonly drainTimeoutMs: number };
}

export interface ClusterEvent {
  /** On the clients' clock. */
  readonly atMs: number;
  readonly kind: 'created' | 'ready' | 'deleted' | 'endpoint-added' | 'endpoint-removed' | 'exited' | 'rollout-done';
  readonly pod: string;
  readonly text: string;
}

export interface Termination {
  readonly pod: string;
  readonly deletedAt: number;
  /** Deletion to the last container's exit. */
  readonly durationMs: number;
  readonly appExit: ExitStatus;
  readonly proxyExit: ExitStatus | undefined;
  readonly sigkilled: boolean;
  readonly preStop: string;
  /** drain-proxy's own "drain finished" line. */
  readonly proxyDrain: { durationMs?: number; exitCode?: number; cut?: number } | undefined;
}

interface PodState {
  readonly name: string;
  readonly pod: Pod;
  ready: boolean;
  deleting: boolean;
  readonly readyPromise: Promise<void>;
  markReady: () => void;
  probeLoop: Promise<void>;
}

const SERVICE_CONTROL_TIMEOUT_MS = 2000;
/** Pod addresses are never reused within a run. */
const MAX_POD_INDEX = 250;

export class Cluster {
  readonly events: ClusterEvent[] = [];
  readonly terminations: Termination[] = [];
  /** Failures of the emulation itself (not of the pods). */
  readonly errors: string[] = [];
  readonly #spec: ScenarioSpec;
  readonly #settings: ClusterSettings;
  readonly #serviceControl: string;
  readonly #clock: () => number;
  readonly #nextIndex: { value: number };
  readonly #pods = new Map<string, PodState>();
  /** Endpoints as the Service process has them (after the lag). */
  readonly #propagated = new Map<string, string>();
  #pushes: Promise<void> = Promise.resolve();
  readonly #pending: Promise<unknown>[] = [];

  constructor(
    spec: ScenarioSpec,
    settings: ClusterSettings,
    serviceControl: string,
    clock: () => number,
    nextIndex: { value: number },
  ) {
    this.#spec = spec;
    this.#settings = settings;
    this.#serviceControl = serviceControl;
    this.#clock = clock;
    this.#nextIndex = nextIndex;
  }

  #record(kind: ClusterEvent['kind'], pod: string, text: string): void {
    this.events.push({ atMs: this.#clock(), kind, pod, text });
  }

  /** The endpoints controller's change, reaching the Service process after the propagation lag. */
  #propagate(name: string, target: string | undefined): void {
    const applied = sleep(this.#settings.propagationLagMs).then(() => {
      if (target === undefined) {
        if (!this.#propagated.delete(name)) return;
        this.#record('endpoint-removed', name, `${name} removed from the Service`);
      } else {
        this.#propagated.set(name, target);
        this.#record('endpoint-added', name, `${name} added to the Service`);
      }
      const list = [...this.#propagated.values()].join(',');
      this.#pushes = this.#pushes.then(async () => {
        const answer = await httpGet(`${this.#serviceControl}/endpoints?set=${list}`, SERVICE_CONTROL_TIMEOUT_MS);
        if (answer.status !== 200) throw new Error(`Service control answered ${answer.status}`);
      });
      return this.#pushes;
    }).catch((err: unknown) => {
      this.errors.push(`Service endpoint update for ${name} failed: ${(err as Error).message}`);
    });
    this.#pending.push(applied);
  }

  /** Creates a pod; resolves with its name once started (not yet ready). */
  async createPod(): Promise<string> {
    const index = this.#nextIndex.value++;
    if (index > MAX_POD_INDEX) throw new Error('out of pod addresses');
    const address: PodAddress = { name: `pod-${index}`, ip: `127.0.1.${index}`, appPort: 8080, proxyPort: 8000, adminPort: 9901 };
    this.#record('created', address.name, `${address.name} created`);
    const pod = this.#spec.proxy === 'nginx'
      ? await startNginxPod(address, this.#settings.workDir)
      : this.#spec.proxy === 'goaway-t0'
        ? await startGoawayFrontPod(address, this.#settings.goawayFront)
        : await startPod(address, this.#spec.proxy === 'none' ? undefined : { ...this.#settings.proxySettings, ...this.#spec.proxySettings });
    const { promise: readyPromise, resolve: markReady } = Promise.withResolvers<void>();
    const state: PodState = { name: address.name, pod, ready: false, deleting: false, readyPromise, markReady, probeLoop: Promise.resolve() };
    this.#pods.set(address.name, state);
    state.probeLoop = this.#probe(state);
    return address.name;
  }

  /** The kubelet's readiness probe: period, timeout, failure threshold; success threshold 1. */
  async #probe(state: PodState): Promise<void> {
    const { pod } = state;
    const url = this.#spec.proxy === 'classic' || this.#spec.proxy === 'native' || this.#spec.proxy === 'goaway-t0'
      ? `http://${pod.address.ip}:${pod.address.adminPort}/readyz`
      : `http://${pod.endpoint.host}:${pod.endpoint.port}/healthz`;
    let failures = 0;
    const maxProbes = Math.ceil(600_000 / this.#settings.probePeriodMs);
    for (let probes = 0; probes < maxProbes && !state.deleting; probes++) {
      const ok = (await httpGet(url, this.#settings.probeTimeoutMs).catch(() => undefined))?.status === 200;
      if (state.deleting) return;
      if (ok) {
        failures = 0;
        if (!state.ready) {
          state.ready = true;
          this.#record('ready', state.name, `${state.name} Ready`);
          state.markReady();
          this.#propagate(state.name, `${pod.endpoint.host}:${pod.endpoint.port}:${pod.grpcPort}`);
        }
      } else if (++failures >= this.#settings.probeFailureThreshold && state.ready) {
        state.ready = false;
        this.#record('ready', state.name, `${state.name} NotReady (readiness probe failed ${failures} times)`);
        this.#propagate(state.name, undefined);
      }
      await sleep(this.#settings.probePeriodMs);
    }
  }

  async waitReady(name: string): Promise<void> {
    const state = this.#pods.get(name);
    if (state === undefined) throw new Error(`no pod ${name}`);
    const timeoutMs = this.#settings.podReadyTimeoutMs;
    // Not ref'd: the timer outlives a pod that became ready and must not hold the process open.
    const ready = await Promise.race([state.readyPromise.then(() => true), sleep(timeoutMs, false, { ref: false })]);
    if (!ready) throw new Error(`${name} not ready within ${timeoutMs} ms`);
  }

  get podNames(): string[] {
    return [...this.#pods.values()].filter((state) => !state.deleting).map((state) => state.name);
  }

  /** Resolves once every change so far has reached the Service. */
  async settled(): Promise<void> {
    await Promise.all(this.#pending);
    await this.#pushes;
  }

  /**
   * `kubectl delete pod`: the endpoints controller drops the endpoint (reaching
   * the Service after the lag) while the kubelet runs the preStop hooks, then
   * sends SIGTERM (native sidecar: the proxy only after the app has exited),
   * SIGKILL at the grace period.
   */
  deletePod(name: string): Promise<Termination> {
    const state = this.#pods.get(name);
    if (state === undefined || state.deleting) throw new Error(`cannot delete ${name}`);
    state.deleting = true;
    const { pod } = state;
    const deletedAt = this.#clock();
    const t0 = performance.now();
    const settings = this.#settings;
    this.#record('deleted', name, `${name} deleted`);
    this.#propagate(name, undefined);
    const remaining = (): number => Math.max(0, settings.gracePeriodMs - (performance.now() - t0));
    let sigkilled = false;
    const stop = async (running: Pod['app']): Promise<ExitStatus> => {
      running.signal('SIGTERM');
      // Past the grace period: SIGKILL (at least 2 s after the SIGTERM, as the kubelet grants after a late preStop).
      const status = await running.waitForExit(Math.max(2000, remaining()));
      if (status.signal === 'SIGKILL') sigkilled = true;
      return status;
    };
    const drainHook = (): Promise<string> => httpGet(`http://${pod.address.ip}:${pod.address.adminPort}/drain?wait=1`, Math.max(1, remaining()))
      .then((answer) => `httpGet /drain?wait=1: ${answer.status}`, (err: Error) => `httpGet /drain?wait=1 failed: ${err.message}`);

    const run = async (): Promise<Termination> => {
      let preStop = 'none';
      let appExit: ExitStatus;
      let proxyExit: ExitStatus | undefined;
      const preStopSleep = async (): Promise<void> => {
        if (this.#spec.preStopSleepMs !== undefined) await sleep(Math.min(this.#spec.preStopSleepMs, remaining()));
      };
      const sleepText = this.#spec.preStopSleepMs === undefined ? 'none' : `sleep ${this.#spec.preStopSleepMs / 1000}`;
      if (pod.proxy === undefined) {
        preStop = sleepText;
        await preStopSleep();
        appExit = await stop(pod.app);
      } else if (this.#spec.proxy === 'nginx') {
        // Two regular containers: the app's hook sleeps; nginx's sleeps, then quits gracefully and waits for nginx to exit.
        const nginx = pod.proxy;
        const [app, side] = await Promise.all([
          preStopSleep().then(() => stop(pod.app)),
          preStopSleep().then(async () => {
            nginx.signal('SIGQUIT');
            await Promise.race([nginx.exited, sleep(remaining())]);
            return stop(nginx);
          }),
        ]);
        preStop = `app ${sleepText}; nginx ${sleepText} && nginx -s quit (waits for the exit)`;
        appExit = app;
        proxyExit = side;
      } else if (this.#spec.proxy === 'goaway-t0') {
        // The front drains from its SIGTERM at the deletion; the app (which exits at once) gets its own after the front has gone.
        preStop = 'none (the front drains on SIGTERM)';
        proxyExit = await stop(pod.proxy);
        appExit = await stop(pod.app);
      } else if (this.#spec.proxy === 'classic') {
        // Two regular containers, each with the preStop hook; each gets SIGTERM after its own hook.
        const proxy = pod.proxy;
        const [app, side] = await Promise.all([
          drainHook().then(async (hook) => ({ hook, exit: await stop(pod.app) })),
          drainHook().then(async (hook) => ({ hook, exit: await stop(proxy) })),
        ]);
        preStop = `app ${app.hook}; proxy ${side.hook}`;
        appExit = app.exit;
        proxyExit = side.exit;
      } else {
        // Native sidecar: the hook on the app container; the sidecar gets SIGTERM once the app has exited.
        preStop = `app ${await drainHook()}`;
        appExit = await stop(pod.app);
        proxyExit = await stop(pod.proxy);
      }
      const durationMs = performance.now() - t0;
      this.#record('exited', name, `${name} gone after ${(durationMs / 1000).toFixed(1)} s (app ${describeExit(appExit)}` +
        `${proxyExit === undefined ? '' : `, proxy ${describeExit(proxyExit)}`})`);
      const drainLine = pod.proxy?.logs.find((line) => line.msg === 'drain finished');
      const termination: Termination = {
        pod: name,
        deletedAt,
        durationMs,
        appExit,
        proxyExit,
        sigkilled,
        preStop,
        proxyDrain: drainLine as Termination['proxyDrain'],
      };
      this.terminations.push(termination);
      this.#pods.delete(name);
      return termination;
    };
    const done = run();
    this.#pending.push(done);
    return done;
  }

  /** Ends the scenario: the remaining pods are stopped at once (not part of the measurement). */
  async stopAll(): Promise<void> {
    const states = [...this.#pods.values()].filter((state) => !state.deleting);
    for (const state of states) state.deleting = true;
    await Promise.all(states.map((state) => state.probeLoop));
    await Promise.all(states.flatMap((state) => [state.pod.app.stop(5000), state.pod.proxy?.stop(5000)]));
    this.#pods.clear();
  }

  /** A Deployment rollout with maxSurge 1, maxUnavailable 0: one new pod ready, then one old pod deleted; repeated. */
  async rollout(round: number): Promise<void> {
    const old = this.podNames;
    for (const name of old) {
      const fresh = await this.createPod();
      await this.waitReady(fresh);
      await sleep(this.#settings.minReadyMs);
      void this.deletePod(name);
    }
    this.#record('rollout-done', '', `rollout ${round} complete`);
  }
}
