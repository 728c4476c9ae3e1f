{{/*
drain-proxy.monitoring.dashboard: a ConfigMap holding a Grafana dashboard
(labelled for the Grafana sidecar: monitoring.dashboard.labels), when
monitoring.dashboard is enabled. Panels: pods ready and draining, open
connections and in-flight requests by protocol, requests by status class,
request duration, drain phase by pod, drain durations, connection closes by
reason (drain_deadline: cut at the deadline).
Usage:
  {{ include "drain-proxy.monitoring.dashboard" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .)) }}
*/}}
{{- define "drain-proxy.monitoring.dashboard" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $d := ((.values).monitoring).dashboard | default dict -}}
{{- if $d.enabled }}
{{- $name := include "drain-proxy.names.object" (dict "name" .name "suffix" "drain-proxy-dashboard") }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  namespace: {{ .context.Release.Namespace | quote }}
  labels:
    {{- include "drain-proxy.labels.monitoring" . | nindent 4 }}
    {{- with $d.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $d.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
data:
  {{ printf "%s.json" $name }}: |-
    {{- include "drain-proxy.monitoring.dashboardJson" . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
drain-proxy.monitoring.dashboardJson: the Grafana dashboard JSON itself, with
variables for the data source, namespace (default: the release's) and pod
(default: the workload's pods).
Usage:
  {{ include "drain-proxy.monitoring.dashboardJson" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .)) }}
*/}}
{{- define "drain-proxy.monitoring.dashboardJson" -}}
{{- $sel := `namespace="$namespace", pod=~"$pod"` -}}
{{- $panels := list
  (dict "title" "Pods ready / draining" "unit" "short" "targets" (list
    (dict "expr" (printf "sum(drain_proxy_ready{%s})" $sel) "legendFormat" "ready")
    (dict "expr" (printf "sum(drain_proxy_draining{%s})" $sel) "legendFormat" "draining")))
  (dict "title" "Open connections by protocol" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (protocol) (drain_proxy_connections_active{%s})" $sel) "legendFormat" "{{protocol}}")))
  (dict "title" "In-flight requests by protocol" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (protocol) (drain_proxy_requests_in_flight{%s})" $sel) "legendFormat" "{{protocol}}")))
  (dict "title" "Requests per second by status class" "unit" "reqps" "targets" (list
    (dict "expr" (printf "sum by (code_class) (rate(drain_proxy_requests_total{%s}[$__rate_interval]))" $sel) "legendFormat" "{{code_class}}")))
  (dict "title" "Request duration (p50, p99)" "unit" "s" "targets" (list
    (dict "expr" (printf "histogram_quantile(0.5, sum by (le) (rate(drain_proxy_request_duration_seconds_bucket{%s}[$__rate_interval])))" $sel) "legendFormat" "p50")
    (dict "expr" (printf "histogram_quantile(0.99, sum by (le) (rate(drain_proxy_request_duration_seconds_bucket{%s}[$__rate_interval])))" $sel) "legendFormat" "p99")))
  (dict "title" "Drain phase by pod" "unit" "short" "targets" (list
    (dict "expr" (printf "max by (pod, phase) (drain_proxy_drain_phase{%s}) == 1" $sel) "legendFormat" "{{pod}} {{phase}}")))
  (dict "title" "Drain duration (last drain, by pod)" "unit" "s" "targets" (list
    (dict "expr" (printf "max by (pod) (drain_proxy_drain_duration_seconds{%s})" $sel) "legendFormat" "{{pod}}")))
  (dict "title" "Connection closes by reason" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (reason) (increase(drain_proxy_connections_closed_total{%s}[$__rate_interval]))" $sel) "legendFormat" "{{reason}}")))
-}}
{{- $out := list -}}
{{- range $i, $p := $panels -}}
{{- $targets := list -}}
{{- range $j, $t := $p.targets -}}
{{- $targets = append $targets (dict "refId" (substr $j (add1 $j | int) "ABCDEFGH") "datasource" (dict "type" "prometheus" "uid" "${datasource}") "expr" $t.expr "legendFormat" $t.legendFormat) -}}
{{- end -}}
{{- $out = append $out (dict "id" (add1 $i) "type" "timeseries" "title" $p.title "datasource" (dict "type" "prometheus" "uid" "${datasource}") "gridPos" (dict "h" 8 "w" 12 "x" (mul (mod $i 2) 12) "y" (mul (div $i 2) 8)) "fieldConfig" (dict "defaults" (dict "unit" $p.unit) "overrides" list) "targets" $targets) -}}
{{- end -}}
{{- $ns := .context.Release.Namespace -}}
{{- $pod := printf "%s-.*" (required "drain-proxy: pass the workload's name to this template: (dict ... \"name\" (include \"mychart.fullname\" .))" .name) -}}
{{- $templating := list
  (dict "name" "datasource" "label" "Data source" "type" "datasource" "query" "prometheus")
  (dict "name" "namespace" "label" "Namespace" "type" "custom" "query" $ns "current" (dict "text" $ns "value" $ns))
  (dict "name" "pod" "label" "Pods (regex)" "type" "textbox" "query" $pod "current" (dict "text" $pod "value" $pod))
-}}
{{- $dashboard := dict
  "title" (printf "drain-proxy: %s" .name)
  "uid" (printf "drain-proxy-%s" (.name | sha256sum | trunc 12))
  "tags" (list "drain-proxy")
  "schemaVersion" 39
  "editable" true
  "time" (dict "from" "now-1h" "to" "now")
  "refresh" "30s"
  "templating" (dict "list" $templating)
  "panels" $out
-}}
{{- toPrettyJson $dashboard -}}
{{- end -}}
