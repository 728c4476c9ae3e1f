{{/*
drain-proxy.monitoring.podMonitor: a PodMonitor scraping GET /metrics on the
admin port (by name) of the workload's pods, when monitoring.podMonitor is
enabled. Needs the Prometheus Operator CRDs (monitoring.coreos.com/v1).
Prometheus (role pod) keeps a terminating pod as a target until it is gone,
so the scrape the proxy waits for after its drain comes.
Usage:
  {{ include "drain-proxy.monitoring.podMonitor" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .) "selectorLabels" (include "mychart.selectorLabels" . | fromYaml)) }}
*/}}
{{- define "drain-proxy.monitoring.podMonitor" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $m := ((.values).monitoring).podMonitor | default dict -}}
{{- if $m.enabled }}
{{- include "drain-proxy.monitoring.requireCRDs" (dict "values" .values "context" .context "value" "monitoring.podMonitor.enabled") }}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "drain-proxy.names.object" (dict "name" .name "suffix" "drain-proxy") }}
  namespace: {{ .context.Release.Namespace | quote }}
  labels:
    {{- include "drain-proxy.labels.monitoring" . | nindent 4 }}
spec:
  selector:
    matchLabels:
      {{- include "drain-proxy.names.selectorLabels" . | nindent 6 }}
  podMetricsEndpoints:
    - port: {{ ((.values).admin).portName }}
      path: /metrics
      scheme: http
      interval: {{ $m.interval | default "15s" }}
{{- end }}
{{- end -}}

{{/*
drain-proxy.monitoring.serviceMonitor: a ServiceMonitor scraping GET /metrics
on the Service's admin port (add it with drain-proxy.service.adminPort), when
monitoring.serviceMonitor is enabled. selectorLabels select the Service.
With serviceMonitor.serviceDiscoveryRole EndpointSlice, Prometheus keeps
scraping a terminating pod (its EndpointSlice entry stays, terminating) and
sees the drain's end; on Endpoints the pod is dropped as its deletion starts.
Usage:
  {{ include "drain-proxy.monitoring.serviceMonitor" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .) "selectorLabels" (include "mychart.selectorLabels" . | fromYaml)) }}
*/}}
{{- define "drain-proxy.monitoring.serviceMonitor" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $m := ((.values).monitoring).serviceMonitor | default dict -}}
{{- if $m.enabled }}
{{- include "drain-proxy.monitoring.requireCRDs" (dict "values" .values "context" .context "value" "monitoring.serviceMonitor.enabled") }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "drain-proxy.names.object" (dict "name" .name "suffix" "drain-proxy") }}
  namespace: {{ .context.Release.Namespace | quote }}
  labels:
    {{- include "drain-proxy.labels.monitoring" . | nindent 4 }}
spec:
  {{- with $m.serviceDiscoveryRole }}
  serviceDiscoveryRole: {{ . }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "drain-proxy.names.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: {{ ((.values).admin).portName }}
      path: /metrics
      scheme: http
      interval: {{ $m.interval | default "15s" }}
{{- end }}
{{- end -}}

{{/*
drain-proxy.monitoring.finalScrapeWaitMs: FINAL_SCRAPE_WAIT in milliseconds,
or nothing when the chart leaves it to the proxy's default:
monitoring.finalScrapeWait when set (off: 0); otherwise derived from the
monitor: the PodMonitor's interval + 2 s, a ServiceMonitor's on EndpointSlice
likewise, 0 for a ServiceMonitor on Endpoints (the terminating pod is no
longer scraped); nothing without either.
Usage:
  {{ include "drain-proxy.monitoring.finalScrapeWaitMs" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.monitoring.finalScrapeWaitMs" -}}
{{- $m := (.values).monitoring | default dict -}}
{{- $set := toString ($m.finalScrapeWait | default "") -}}
{{- $pm := $m.podMonitor | default dict -}}
{{- $sm := $m.serviceMonitor | default dict -}}
{{- if eq $set "off" -}}
0
{{- else if ne $set "" -}}
{{- include "drain-proxy.util.durationMs" $set -}}
{{- else if $pm.enabled -}}
{{- add (include "drain-proxy.util.durationMs" ($pm.interval | default "15s") | int) 2000 -}}
{{- else if and $sm.enabled (eq (toString ($sm.serviceDiscoveryRole | default "")) "EndpointSlice") -}}
{{- add (include "drain-proxy.util.durationMs" ($sm.interval | default "15s") | int) 2000 -}}
{{- else if $sm.enabled -}}
0
{{- end -}}
{{- end -}}

{{/*
drain-proxy.monitoring.prometheusRule: a PrometheusRule for the workload's
pods, when monitoring.prometheusRule is enabled. Every expression reads series
that outlive the pod in Prometheus: the proxy waits for a last scrape after
its drain (FINAL_SCRAPE_WAIT), and counters and gauges of a drain are read
with max_over_time or increase over a window that covers the pod's last
samples.
  DrainProxyDrainDeadlineCut     a drain reached drain.timeoutSeconds with
                                 connections open and cut them (exit code 3)
  DrainProxySlowDrain            a drain completed, but after more than
                                 prometheusRule.slowDrainPercent of the deadline
  DrainProxyRestarted            the proxy process restarted within its pod
                                 (a crash, an OOM kill, a failed liveness probe)
  DrainProxyNotReady             a pod not ready, and not draining, for
                                 prometheusRule.notReadyFor (the app fails its
                                 health check or never came up)
  DrainProxyReadinessFlapping    readiness changed more than
                                 prometheusRule.readinessChanges times in 10 m
  DrainProxyDrainDenied          /drain refused: a caller that is neither
                                 loopback, the node nor a token holder; when the
                                 kubelet's preStop hooks arrive from another
                                 address (some CNIs), pods stop draining: set
                                 drain.token
  DrainProxyWebSocketCloseTimeouts
                                 more than prometheusRule.closeTimeoutPercent of
                                 a drain's WebSocket closing handshakes timed out
  DrainProxyConnectionsRefused   connections closed as soon as accepted: over
                                 http.maxConnections, or accept failures
                                 (memory pressure is DrainProxyMemoryPressure's)
  DrainProxyLimitsEnforced       HTTP/2 client connections on which a limit was
                                 enforced in 10 m (too many streams, rapid
                                 reset, SETTINGS/PING/empty-frame/CONTINUATION
                                 floods), by reason
  DrainProxyMemoryPressure       the memory guard passed 90% of MEMORY_LIMIT
                                 (the container's limits.memory) in 10 m: it
                                 refused connections and shed the ones holding
                                 the most buffered bytes
  DrainProxyRequestsRejected     more than prometheusRule.rejectedRequests
                                 requests refused in 10 m (malformed, too large,
                                 too slow)
Usage:
  {{ include "drain-proxy.monitoring.prometheusRule" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .)) }}
*/}}
{{- define "drain-proxy.monitoring.prometheusRule" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $r := ((.values).monitoring).prometheusRule | default dict -}}
{{- if $r.enabled }}
{{- include "drain-proxy.monitoring.requireCRDs" (dict "values" .values "context" .context "value" "monitoring.prometheusRule.enabled") }}
{{- $name := include "drain-proxy.names.object" (dict "name" .name "suffix" "drain-proxy") }}
{{- $match := printf "namespace=%q, pod=~%q" .context.Release.Namespace (printf "%s-.*" (.name | regexQuoteMeta)) }}
{{- $severity := $r.severity | default "warning" | quote }}
{{- $timeout := int ((.values).drain).timeoutSeconds }}
{{- $slowPercent := $r.slowDrainPercent | default 80 }}
{{- $slowSeconds := divf (mulf $slowPercent $timeout) 100 }}
{{- $changes := int ($r.readinessChanges | default 4) }}
{{- $closePercent := $r.closeTimeoutPercent | default 10 }}
{{- $rejected := int (ternary 100 $r.rejectedRequests (kindIs "invalid" $r.rejectedRequests)) }}
{{- $notReadyFor := $r.notReadyFor | default "5m" }}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ $name }}
  namespace: {{ .context.Release.Namespace | quote }}
  labels:
    {{- include "drain-proxy.labels.monitoring" . | nindent 4 }}
spec:
  groups:
    - name: {{ $name }}
      rules:
        - alert: DrainProxyDrainDeadlineCut
          expr: |-
            sum by (namespace, pod) (max_over_time(drain_proxy_connections_closed_total{reason="drain_deadline", {{ $match }}}[15m])) > 0
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy cut connections at its drain deadline
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} reached its drain deadline
              ({{ $timeout }}s) with {{`{{ printf "%.0f" $value }}`}} connection(s) still open and cut them.
              Raise drainProxy.drain.timeoutSeconds above the longest request or stream, or make clients reconnect sooner.
        - alert: DrainProxySlowDrain
          expr: |-
            (max by (namespace, pod) (max_over_time(drain_proxy_drain_duration_seconds{ {{- $match -}} }[15m])) > {{ $slowSeconds }})
              unless on (namespace, pod)
            (max by (namespace, pod) (max_over_time(drain_proxy_drains_total{outcome="deadline", {{ $match }}}[15m])) > 0)
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy drains come close to their deadline
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} drained in {{`{{ printf "%.1f" $value }}`}}s, more than
              {{ $slowPercent }}% of its {{ $timeout }}s deadline: the next slower request will be cut.
              Raise drainProxy.drain.timeoutSeconds, or shorten the app's longest requests.
        - alert: DrainProxyRestarted
          expr: |-
            sum by (namespace, pod) (changes(process_start_time_seconds{ {{- $match -}} }[15m]) and on (namespace, pod, instance) drain_proxy_ready{ {{- $match -}} }) > 0
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy restarted inside its pod
            description: >-
              The drain-proxy process of pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} restarted
              {{`{{ printf "%.0f" $value }}`}} time(s) in 15 minutes, dropping the pod's connections each time.
              kubectl describe pod shows the last state's reason (OOMKilled: raise drainProxy.resources.limits.memory)
              and its termination message.
        - alert: DrainProxyNotReady
          expr: |-
            (max by (namespace, pod) (drain_proxy_ready{ {{- $match -}} }) == 0)
              and on (namespace, pod)
            (max by (namespace, pod) (drain_proxy_draining{ {{- $match -}} }) == 0)
          for: {{ $notReadyFor }}
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy reports its pod not ready while not draining
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} has not been ready for {{ $notReadyFor }}:
              the app fails drain-proxy's upstream check (upstream.health: {{ ((.values).upstream).health | default "tcp" }}).
              GET /status on the admin port says why.
        - alert: DrainProxyReadinessFlapping
          expr: |-
            max by (namespace, pod) (changes(drain_proxy_ready{ {{- $match -}} }[10m])) > {{ $changes }}
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy readiness flaps
            description: >-
              The readiness of pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} changed {{`{{ printf "%.0f" $value }}`}} times
              in 10 minutes: the app's health check ({{ ((.values).upstream).health | default "tcp" }}) passes and fails
              in turn, so the pod joins and leaves its Service's endpoints. GET /status on the admin port says why.
        - alert: DrainProxyDrainDenied
          expr: |-
            sum by (namespace, pod) (increase(drain_proxy_drain_denied_total{ {{- $match -}} }[10m])) > 0
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy refused /drain calls
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} refused {{`{{ printf "%.0f" $value }}`}} /drain call(s) in 10 minutes.
              If they are the kubelet's preStop hooks (arriving from an address other than the node's on some
              networks), pods are not drained before SIGTERM: set drainProxy.drain.token.
        - alert: DrainProxyWebSocketCloseTimeouts
          expr: |-
            sum by (namespace, pod) (increase(drain_proxy_websocket_close_timeouts_total{ {{- $match -}} }[15m]))
              /
            (sum by (namespace, pod) (increase(drain_proxy_websocket_close_timeouts_total{ {{- $match -}} }[15m]))
              + sum by (namespace, pod) (increase(drain_proxy_websocket_close_handshake_seconds_count{ {{- $match -}} }[15m])))
              * 100 > {{ $closePercent }}
          labels:
            severity: {{ $severity }}
          annotations:
            summary: WebSocket closing handshakes time out during drains
            description: >-
              In the drain of pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}}, {{`{{ printf "%.0f" $value }}`}}% of the
              WebSockets told to go did not complete the closing handshake within websocket.closeTimeout and were
              closed without it: clients or the app do not answer close frames.
        - alert: DrainProxyConnectionsRefused
          expr: |-
            sum by (namespace, pod, reason) (increase(drain_proxy_connections_refused_total{reason!="memory_pressure", {{ $match }}}[10m])) > 0
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy turned connections away
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} closed {{`{{ printf "%.0f" $value }}`}} connection(s) as soon as
              accepted in 10 minutes ({{`{{ $labels.reason }}`}}): max_connections is http.maxConnections
              ({{ int ((.values).http).maxConnections }}) reached, accept_failed an accept error such as EMFILE.
        - alert: DrainProxyRequestsRejected
          expr: |-
            sum by (namespace, pod) (increase(drain_proxy_rejected_requests_total{ {{- $match -}} }[10m])) > {{ $rejected }}
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy refuses many requests
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} refused {{`{{ printf "%.0f" $value }}`}} requests in 10 minutes
              (more than {{ $rejected }}): malformed or ambiguous requests, heads too large or too slow, stalled bodies.
              drain_proxy_rejected_requests_total's code label says which; a scanner or an attack looks like this.
        - alert: DrainProxyLimitsEnforced
          expr: |-
            sum by (namespace, pod, reason) (increase(drain_proxy_limits_enforced_total{reason!="memory_shed", {{ $match }}}[10m])) > 0
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy enforced its HTTP/2 limits on clients
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} enforced a limit on {{`{{ printf "%.0f" $value }}`}} client
              connection(s) in 10 minutes ({{`{{ $labels.reason }}`}}): h2_concurrent_streams is more streams at once than
              http.maxConcurrentStreams ({{ int ((.values).http).maxConcurrentStreams }}), the excess refused; h2_stream_resets a rapid
              reset beyond http.streamResetBurst ({{ int ((.values).http).streamResetBurst }}); the others SETTINGS, PING, empty-frame or
              CONTINUATION floods; those sessions were closed. Well-behaved clients do none of this: an attack or a broken client does.
        - alert: DrainProxyMemoryPressure
          expr: |-
            (max by (namespace, pod) (max_over_time(drain_proxy_memory_pressure{ {{- $match -}} }[10m])) > 0)
              or on (namespace, pod)
            (sum by (namespace, pod) (increase(drain_proxy_connections_refused_total{reason="memory_pressure", {{ $match }}}[10m])) > 0)
              or on (namespace, pod)
            (sum by (namespace, pod) (increase(drain_proxy_limits_enforced_total{reason="memory_shed", {{ $match }}}[10m])) > 0)
          labels:
            severity: {{ $severity }}
          annotations:
            summary: drain-proxy ran short of memory and turned connections away
            description: >-
              The drain-proxy of pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} passed 90% of its memory limit
              (MEMORY_LIMIT, from resources.limits.memory{{ with (((.values).resources).limits).memory }}: {{ . }}{{ end }}) in the last 10 minutes:
              until it was back under 80% it refused new connections and closed those holding the most buffered bytes
              (drain_proxy_connections_refused_total{reason="memory_pressure"}, drain_proxy_limits_enforced_total{reason="memory_shed"}).
              Without an abusive client (DrainProxyLimitsEnforced, drain_proxy_buffered_bytes), raise drainProxy.resources.limits.memory.
{{- end }}
{{- end -}}

{{/*
drain-proxy.monitoring.requireCRDs: renders nothing; fails unless the cluster
serves the Prometheus Operator's API (monitoring.coreos.com/v1), which
PodMonitor, ServiceMonitor and PrometheusRule need, so that an object the API
server would refuse is not rendered. Without a cluster (helm template, Argo CD)
Helm knows only the APIs given with --api-versions; monitoring.checkCRDs: false
skips the check.
Usage:
  {{ include "drain-proxy.monitoring.requireCRDs" (dict "values" .Values.drainProxy "context" $ "value" "monitoring.podMonitor.enabled") }}
*/}}
{{- define "drain-proxy.monitoring.requireCRDs" -}}
{{- $check := ((.values).monitoring).checkCRDs -}}
{{- if and (or (kindIs "invalid" $check) $check) (not (.context.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
{{- fail (printf "drain-proxy: %s needs the Prometheus Operator's CRDs (monitoring.coreos.com/v1), which this cluster does not serve. Install them (kube-prometheus-stack, or the prometheus-operator-crds chart); with helm template, pass --api-versions monitoring.coreos.com/v1, or set drainProxy.monitoring.checkCRDs: false" .value) -}}
{{- end -}}
{{- end -}}
