/**
 * The library chart's values, as `drain-proxy inject` takes them: the same
 * keys, the same defaults (charts/drain-proxy/values.yaml, which a test keeps
 * equal to CHART_DEFAULTS) and the same checks (templates/_validate.tpl), so
 * that a pod wired by the chart and one wired by `inject` with the same values
 * are the same pod. Only the pod's part of the chart: the optional objects
 * (monitoring, PodDisruptionBudget, HPA) are the chart's alone.
 */
export type Scalar = string | number | boolean | null;
export type ValueTree = { [key: string]: unknown };

/** An http.ports or tcp.ports entry. */
export interface PortValue {
  port: number;
  upstreamPort: number;
  name?: string;
}

/** The values inject reads; the shape of values.yaml minus the optional objects. */
export interface ChartValues {
  mode: string;
  containerName: string;
  image: { registry: string; repository: string; tag: string | number; digest: string; pullPolicy: string; pullSecrets: (string | ValueTree)[] };
  listen: { port: number; portName: string; address: string; proxyProtocol: boolean };
  admin: { port: number; portName: string; address: string };
  upstream: {
    host: string;
    port: number;
    connectTimeout: string;
    responseTimeout: string;
    health: string;
    healthInterval: string;
    protocol: string;
  };
  drain: { delaySeconds: number; timeoutSeconds: number; idleClose: string; closeSpread: string; token: string };
  terminationGracePeriodSeconds: number | null;
  graceMarginSeconds: number;
  terminationMessagePolicy: string;
  /** closeSpread: the older name of drain.closeSpread, still honoured. */
  websocket: { closeSpread: string; closeCode: number; closeReason: string; closeTimeout: string };
  tcp: { ports: PortValue[]; idleClose: string };
  http: {
    ports: PortValue[];
    keepAliveTimeout: string;
    headerTimeout: string;
    requestBodyTimeout: string;
    maxHeaderSize: string;
    maxHeaderCount: number;
    maxConnections: number;
    maxConcurrentStreams: number;
    streamResetBurst: number;
    streamResetRate: number;
    forwardedHeaders: boolean;
    trustedProxies: string;
  };
  /** secretName: a kubernetes.io/tls Secret mounted into the proxy; empty: no TLS. */
  tls: { secretName: string; certKey: string; keyKey: string };
  log: { level: string; access: boolean };
  extraEnv: ValueTree[];
  resources: ValueTree;
  securityContext: ValueTree;
  probes: { startup: ValueTree; readiness: ValueTree; liveness: ValueTree };
  /** Helm globals, as the chart reads them (bitnami/common's names): imageRegistry, imagePullSecrets, compatibility.openshift. */
  global?: ValueTree;
  /** Chart-only but for finalScrapeWait, which sets FINAL_SCRAPE_WAIT (no monitor can be enabled here to derive it from). */
  monitoring?: { finalScrapeWait?: string };
}

export const CHART_DEFAULTS: ChartValues = {
  mode: 'auto',
  containerName: 'drain-proxy',
  image: { registry: '', repository: 'drain-proxy', tag: '0.1.0', digest: '', pullPolicy: 'IfNotPresent', pullSecrets: [] },
  listen: { port: 8000, portName: 'http', address: '', proxyProtocol: false },
  admin: { port: 9901, portName: 'drain-admin', address: '' },
  upstream: {
    host: '127.0.0.1',
    port: 8080,
    connectTimeout: '5s',
    responseTimeout: 'off',
    health: 'tcp',
    healthInterval: '1s',
    protocol: 'http1',
  },
  drain: { delaySeconds: 5, timeoutSeconds: 25, idleClose: '1s', closeSpread: '', token: '' },
  terminationGracePeriodSeconds: null,
  graceMarginSeconds: 5,
  terminationMessagePolicy: 'FallbackToLogsOnError',
  websocket: { closeSpread: '', closeCode: 1012, closeReason: 'draining', closeTimeout: '' },
  tcp: { ports: [], idleClose: 'off' },
  http: {
    ports: [],
    keepAliveTimeout: '620s',
    headerTimeout: '10s',
    requestBodyTimeout: '60s',
    maxHeaderSize: '16k',
    maxHeaderCount: 100,
    maxConnections: 10000,
    maxConcurrentStreams: 100,
    streamResetBurst: 1000,
    streamResetRate: 33,
    forwardedHeaders: true,
    trustedProxies: 'private',
  },
  tls: { secretName: '', certKey: 'tls.crt', keyKey: 'tls.key' },
  log: { level: 'info', access: false },
  extraEnv: [],
  resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  securityContext: {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  },
  probes: {
    startup: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 30 },
    readiness: { periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1 },
    liveness: { periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
  },
};

/** Sections of values.yaml that render objects beside the pod: accepted (a chart's values file may carry them) but only when off. */
export const CHART_ONLY_SECTIONS: Readonly<Record<string, readonly string[]>> = {
  monitoring: ['podMonitor', 'serviceMonitor', 'prometheusRule', 'dashboard'],
  podDisruptionBudget: [''],
  autoscaling: [''],
};
