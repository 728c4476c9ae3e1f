{{/*
drain-proxy-example.fullname: the release-qualified name of every object.
Usage:
  {{ include "drain-proxy-example.fullname" . }}
*/}}
{{- define "drain-proxy-example.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy-example.selectorLabels: the pods' selector labels.
Usage:
  {{ include "drain-proxy-example.selectorLabels" . }}
*/}}
{{- define "drain-proxy-example.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
drain-proxy-example.labels: the standard labels.
Usage:
  {{ include "drain-proxy-example.labels" . }}
*/}}
{{- define "drain-proxy-example.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "drain-proxy-example.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
drain-proxy-example.securityContext: the app containers' securityContext (the
node image's unprivileged user, uid 1000).
Usage:
  {{ include "drain-proxy-example.securityContext" . }}
*/}}
{{- define "drain-proxy-example.securityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}
