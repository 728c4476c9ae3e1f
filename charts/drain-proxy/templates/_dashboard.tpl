{{/*
drain-proxy.monitoring.dashboard: a ConfigMap holding a Grafana dashboard
(labelled for the Grafana sidecar: monitoring.dashboard.labels), when
monitoring.dashboard is enabled. Panels: pods ready and draining, open
connections and in-flight requests by protocol, requests by status class,
request duration, a drain timeline per pod (serving, draining, closing,
drained), connections of draining pods by protocol, drain durations, drains by
outcome (completed, deadline) and their closes by reason, connection closes by
reason, WebSocket closing handshakes, abuse limits (connections refused,
requests rejected, limits enforced, pods under memory pressure) and the bytes
held for open connections by protocol.
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
(default: the workload's pods). Drain panels read series that end with their
pod: the proxy waits for a last scrape after its drain (FINAL_SCRAPE_WAIT), and
the outcome panels take the maximum over the dashboard's time range.
Usage:
  {{ include "drain-proxy.monitoring.dashboardJson" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .)) }}
*/}}
{{- define "drain-proxy.monitoring.dashboardJson" -}}
{{- $sel := `namespace="$namespace", pod=~"$pod"` -}}
{{- $phases := dict "type" "value" "options" (dict
  "0" (dict "text" "serving" "color" "green" "index" 0)
  "1" (dict "text" "draining" "color" "yellow" "index" 1)
  "2" (dict "text" "closing" "color" "orange" "index" 2)
  "3" (dict "text" "drained" "color" "blue" "index" 3)) -}}
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
  (dict "title" "Drain timeline by pod" "type" "state-timeline" "unit" "short" "mappings" (list $phases) "targets" (list
    (dict "expr" (printf "max by (pod) (drain_proxy_drain_phase{phase=\"draining\", %s}) + 2 * max by (pod) (drain_proxy_drain_phase{phase=\"closing\", %s}) + 3 * max by (pod) (drain_proxy_drain_phase{phase=\"drained\", %s})" $sel $sel $sel) "legendFormat" "{{pod}}")))
  (dict "title" "Open connections of draining pods, by protocol" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (pod, protocol) (drain_proxy_connections_active{%s} and on (namespace, pod) (drain_proxy_draining{%s} == 1))" $sel $sel) "legendFormat" "{{pod}} {{protocol}}")))
  (dict "title" "Drain duration by pod" "unit" "s" "targets" (list
    (dict "expr" (printf "max by (pod) (drain_proxy_drain_duration_seconds{%s} > 0)" $sel) "legendFormat" "{{pod}}")))
  (dict "title" "Drains in the time range, by outcome (deadline: exit code 3)" "type" "stat" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (outcome) (max_over_time(drain_proxy_drains_total{%s}[$__range]))" $sel) "legendFormat" "{{outcome}}" "instant" true)))
  (dict "title" "Connections closed by drains in the time range, by reason" "type" "stat" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (reason) (max_over_time(drain_proxy_connections_closed_total{reason=~\"drain_.*\", %s}[$__range]))" $sel) "legendFormat" "{{reason}}" "instant" true)))
  (dict "title" "Connection closes by reason" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (reason) (increase(drain_proxy_connections_closed_total{%s}[$__rate_interval]))" $sel) "legendFormat" "{{reason}}")))
  (dict "title" "WebSocket closing handshakes at drain" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (pod) (increase(drain_proxy_websocket_close_handshake_seconds_count{%s}[$__rate_interval]))" $sel) "legendFormat" "{{pod}} completed")
    (dict "expr" (printf "sum by (pod) (increase(drain_proxy_websocket_close_timeouts_total{%s}[$__rate_interval]))" $sel) "legendFormat" "{{pod}} timed out")))
  (dict "title" "Abuse limits: connections refused, requests rejected, limits enforced, pods under memory pressure" "unit" "short" "targets" (list
    (dict "expr" (printf "sum by (reason) (increase(drain_proxy_connections_refused_total{%s}[$__rate_interval]))" $sel) "legendFormat" "refused {{reason}}")
    (dict "expr" (printf "sum by (code) (increase(drain_proxy_rejected_requests_total{%s}[$__rate_interval]))" $sel) "legendFormat" "rejected {{code}}")
    (dict "expr" (printf "sum by (reason) (increase(drain_proxy_limits_enforced_total{%s}[$__rate_interval]))" $sel) "legendFormat" "limit {{reason}}")
    (dict "expr" (printf "sum(drain_proxy_memory_pressure{%s})" $sel) "legendFormat" "under memory pressure")))
  (dict "title" "Bytes held for open connections, by protocol" "unit" "bytes" "targets" (list
    (dict "expr" (printf "sum by (protocol) (drain_proxy_buffered_bytes{%s})" $sel) "legendFormat" "{{protocol}}")))
-}}
{{- $datasource := dict "type" "prometheus" "uid" "${datasource}" -}}
{{- $out := list -}}
{{- range $i, $p := $panels -}}
{{- $targets := list -}}
{{- range $j, $t := $p.targets -}}
{{- $target := dict "refId" (substr $j (add1 $j | int) "ABCDEFGH") "datasource" $datasource "expr" $t.expr "legendFormat" $t.legendFormat -}}
{{- if $t.instant }}{{ $_ := set $target "instant" true }}{{ $_ := set $target "range" false }}{{ end -}}
{{- $targets = append $targets $target -}}
{{- end -}}
{{- $defaults := dict "unit" $p.unit -}}
{{- with $p.mappings }}{{ $_ := set $defaults "mappings" . }}{{ end -}}
{{- $panel := dict "id" (add1 $i) "type" ($p.type | default "timeseries") "title" $p.title "datasource" $datasource "gridPos" (dict "h" 8 "w" 12 "x" (mul (mod $i 2) 12) "y" (mul (div $i 2) 8)) "fieldConfig" (dict "defaults" $defaults "overrides" list) "targets" $targets -}}
{{- if eq ($p.type | default "timeseries") "stat" }}{{ $_ := set $panel "options" (dict "reduceOptions" (dict "calcs" (list "lastNotNull") "fields" "" "values" false) "textMode" "value_and_name" "colorMode" "none") }}{{ end -}}
{{- $out = append $out $panel -}}
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
