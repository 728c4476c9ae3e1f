{{/*
drain-proxy.notes: lines for your chart's templates/NOTES.txt (Helm never
shows a dependency's own NOTES): where the sidecar went and what decided it,
and, with mode auto, a warning that the decision rests on the Kubernetes
version Helm reported, which helm template does not take from the cluster;
a note when a value is set under its older name.
Usage (in templates/NOTES.txt):
  {{ include "drain-proxy.notes" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.notes" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $mode := include "drain-proxy.sidecar.mode" . -}}
drain-proxy runs as a {{ ternary "native sidecar (an init container with restartPolicy: Always)" "classic sidecar (a regular container with its own preStop hook)" (eq $mode "native") }}: {{ include "drain-proxy.sidecar.modeReason" . }}.
{{- if eq ((.values).mode | default "auto") "auto" }}

WARNING: drainProxy.mode is auto. It chose {{ $mode }} from Kubernetes {{ .context.Capabilities.KubeVersion.Version }}, the version
Helm reported. helm install and helm upgrade ask the cluster; helm template, and the
tools that render with it (Argo CD, CI pipelines), report Helm's own default (Helm 3.17:
v1.32, Helm 4.1: v1.35) unless given --kube-version. On a cluster before 1.29 a native
sidecar is an init container that never ends, and the app never starts. Set
drainProxy.mode to native or classic for the clusters you deploy to.
{{- end }}
{{- if ((.values).websocket).closeSpread }}

NOTE: drainProxy.websocket.closeSpread is the older name of drainProxy.drain.closeSpread
(the window spreads WebSockets, event streams and HTTP/2 sessions): rename it.
{{- end }}
{{- end -}}
