/**
 * The pod's readiness, in one place for /readyz, /status and
 * drain_proxy_ready: ready while the app answers its health checks and no
 * drain has started. A drain wins: a draining pod is never ready again.
 */
export interface ReadinessSources {
  readonly controller: { readonly draining: boolean };
  readonly health: { readonly healthy: boolean };
}

export class Readiness {
  readonly #sources: ReadinessSources;

  constructor(sources: ReadinessSources) {
    this.#sources = sources;
  }

  get ready(): boolean {
    return this.notReadyBecause === undefined;
  }

  /** Why the pod is not ready ('draining', 'upstream not ready'), or undefined when it is. */
  get notReadyBecause(): string | undefined {
    const { controller, health } = this.#sources;
    if (controller.draining) return 'draining';
    if (!health.healthy) return 'upstream not ready';
    return undefined;
  }
}
