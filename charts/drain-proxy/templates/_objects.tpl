{{/*
drain-proxy.objects: every enabled object of this chart for one workload, as
YAML documents: PodDisruptionBudget, HorizontalPodAutoscaler, PodMonitor or
ServiceMonitor, PrometheusRule, Grafana dashboard ConfigMap. One template file
in your chart holding this line is enough.
Usage:
  {{ include "drain-proxy.objects" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .) "selectorLabels" (include "mychart.selectorLabels" . | fromYaml)) }}
*/}}
{{- define "drain-proxy.objects" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- range $template := list "drain-proxy.scaling.podDisruptionBudget" "drain-proxy.scaling.horizontalPodAutoscaler" "drain-proxy.monitoring.podMonitor" "drain-proxy.monitoring.serviceMonitor" "drain-proxy.monitoring.prometheusRule" "drain-proxy.monitoring.dashboard" }}
{{- $doc := include $template $ }}
{{- if trim $doc }}
---
{{ trim $doc }}
{{- end }}
{{- end }}
{{- end -}}
