{{/*
drain-proxy.pod.initContainers: the sidecar as an initContainers list item in
native mode; nothing in classic mode. For pods that already have
initContainers; otherwise drain-proxy.pod.spec renders the key too.
Usage (inside your initContainers list):
  initContainers:
    {{- include "drain-proxy.pod.initContainers" (dict "values" .Values.drainProxy "context" $) | nindent 8 }}
    - name: your-init-container
*/}}
{{- define "drain-proxy.pod.initContainers" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- if eq (include "drain-proxy.sidecar.mode" .) "native" -}}
{{- include "drain-proxy.sidecar.container" . -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.pod.containers: the sidecar as a containers list item in classic
mode; nothing in native mode.
Usage (inside your containers list):
  containers:
    {{- include "drain-proxy.pod.containers" (dict "values" .Values.drainProxy "context" $) | nindent 8 }}
    - name: app
*/}}
{{- define "drain-proxy.pod.containers" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- if eq (include "drain-proxy.sidecar.mode" .) "classic" -}}
{{- include "drain-proxy.sidecar.container" . -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.pod.terminationGracePeriodSeconds: the pod spec key, derived from
drain.timeoutSeconds + graceMarginSeconds unless terminationGracePeriodSeconds
is set (and then checked to exceed drain.timeoutSeconds).
Usage (at the pod spec's indentation):
  {{- include "drain-proxy.pod.terminationGracePeriodSeconds" (dict "values" .Values.drainProxy "context" $) | nindent 6 }}
*/}}
{{- define "drain-proxy.pod.terminationGracePeriodSeconds" -}}
{{- include "drain-proxy.validate.values" . -}}
terminationGracePeriodSeconds: {{ include "drain-proxy.pod.gracePeriod" . }}
{{- end -}}

{{/*
drain-proxy.pod.spec: the pod spec keys drain-proxy owns:
terminationGracePeriodSeconds and, in native mode, initContainers holding the
sidecar. For pods without initContainers of their own (otherwise use
drain-proxy.pod.terminationGracePeriodSeconds and drain-proxy.pod.initContainers).
Usage (at the pod spec's indentation):
  {{- include "drain-proxy.pod.spec" (dict "values" .Values.drainProxy "context" $) | nindent 6 }}
*/}}
{{- define "drain-proxy.pod.spec" -}}
{{- include "drain-proxy.pod.terminationGracePeriodSeconds" . }}
{{- if eq (include "drain-proxy.sidecar.mode" .) "native" }}
initContainers:
  {{- include "drain-proxy.sidecar.container" . | nindent 2 }}
{{- end }}
{{- end -}}
