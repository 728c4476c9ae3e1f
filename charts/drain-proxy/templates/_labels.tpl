{{/*
Every template of this chart takes one dict:
  values   the drain-proxy values (.Values.drainProxy with the dependency aliased drainProxy)
  context  the root context ($), for .Release, .Chart and .Capabilities
and, for the objects that select pods or scale a workload,
  name            the workload's name (object names derive from it)
  selectorLabels  the workload's pod selector labels, as a dict
*/}}

{{/*
drain-proxy.labels.standard: the labels every object rendered by this chart
carries: Helm's standard set for the calling chart and release, plus
app.kubernetes.io/component: drain-proxy.
Usage:
  {{ include "drain-proxy.labels.standard" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.labels.standard" -}}
{{- $ctx := .context -}}
helm.sh/chart: {{ printf "%s-%s" $ctx.Chart.Name $ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ $ctx.Release.Name | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service | quote }}
app.kubernetes.io/component: drain-proxy
{{- end -}}

{{/*
drain-proxy.labels.monitoring: the standard labels plus monitoring.labels (the
ones a Prometheus or Grafana sidecar selects on, e.g. release: kube-prometheus-stack).
Usage:
  {{ include "drain-proxy.labels.monitoring" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.labels.monitoring" -}}
{{ include "drain-proxy.labels.standard" . }}
{{- with ((.values).monitoring).labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
drain-proxy.names.object: the name of an object this chart renders for a
workload: "<name>-<suffix>", cut to 63 characters. Fails when name is missing.
Usage:
  {{ include "drain-proxy.names.object" (dict "name" (include "mychart.fullname" .) "suffix" "drain-proxy") }}
*/}}
{{- define "drain-proxy.names.object" -}}
{{- $name := required "drain-proxy: pass the workload's name to this template: (dict \"values\" .Values.drainProxy \"context\" $ \"name\" (include \"mychart.fullname\" .) ...)" .name -}}
{{- printf "%s-%s" $name .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
drain-proxy.names.selectorLabels: the selectorLabels argument as YAML, or a
failure telling the caller to pass it.
Usage:
  {{ include "drain-proxy.names.selectorLabels" (dict "values" .Values.drainProxy "context" $ "selectorLabels" (include "mychart.selectorLabels" . | fromYaml)) }}
*/}}
{{- define "drain-proxy.names.selectorLabels" -}}
{{- if not .selectorLabels -}}
{{- fail "drain-proxy: pass the workload's pod selector labels to this template: (dict ... \"selectorLabels\" (include \"mychart.selectorLabels\" . | fromYaml))" -}}
{{- end -}}
{{- toYaml .selectorLabels -}}
{{- end -}}
