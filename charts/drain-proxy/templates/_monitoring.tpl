{{/*
drain-proxy.monitoring.podMonitor: a PodMonitor scraping GET /metrics on the
admin port (by name) of the workload's pods, when monitoring.podMonitor is
enabled. Needs the Prometheus Operator CRDs (monitoring.coreos.com/v1).
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
drain-proxy.monitoring.prometheusRule: a PrometheusRule with three alerts for
the workload's pods, when monitoring.prometheusRule is enabled:
  DrainProxyDrainDeadlineCut  a drain reached drain.timeoutSeconds with
                              connections still open and cut them
  DrainProxyNotReady          a pod not ready, and not draining, for
                              monitoring.prometheusRule.notReadyFor (the app
                              fails its health check or never came up)
  DrainProxyDrainDenied       /drain refused: a caller that is neither
                              loopback, the node nor a token holder; when the
                              kubelet's preStop hooks arrive from another
                              address (some CNIs), pods stop draining: set
                              drain.token
The proxy exits right after its drain, so the deadline counter is seen only
if a scrape lands in between: best effort (the "drain finished" log line
records every drain).
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
            max by (namespace, pod) (max_over_time(drain_proxy_connections_closed_total{reason="drain_deadline", {{ $match }}}[15m])) > 0
          labels:
            severity: {{ $r.severity | default "warning" | quote }}
          annotations:
            summary: drain-proxy cut connections at its drain deadline
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} reached its drain deadline
              ({{ int ((.values).drain).timeoutSeconds }}s) with {{`{{ $value }}`}} connection(s) still open and cut them.
              Raise drainProxy.drain.timeoutSeconds above the longest request or stream, or make clients reconnect sooner.
        - alert: DrainProxyNotReady
          expr: |-
            (max by (namespace, pod) (drain_proxy_ready{ {{- $match -}} }) == 0)
              and on (namespace, pod)
            (max by (namespace, pod) (drain_proxy_draining{ {{- $match -}} }) == 0)
          for: {{ $r.notReadyFor | default "5m" }}
          labels:
            severity: {{ $r.severity | default "warning" | quote }}
          annotations:
            summary: drain-proxy reports its pod not ready while not draining
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} has not been ready for {{ $r.notReadyFor | default "5m" }}:
              the app fails drain-proxy's upstream check (upstream.health: {{ ((.values).upstream).health | default "tcp" }}).
              GET /status on the admin port says why.
        - alert: DrainProxyDrainDenied
          expr: |-
            sum by (namespace, pod) (increase(drain_proxy_drain_denied_total{ {{- $match -}} }[10m])) > 0
          labels:
            severity: {{ $r.severity | default "warning" | quote }}
          annotations:
            summary: drain-proxy refused /drain calls
            description: >-
              Pod {{`{{ $labels.namespace }}/{{ $labels.pod }}`}} refused {{`{{ $value }}`}} /drain call(s) in 10 minutes.
              If they are the kubelet's preStop hooks (arriving from an address other than the node's on some
              networks), pods are not drained before SIGTERM: set drainProxy.drain.token.
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
