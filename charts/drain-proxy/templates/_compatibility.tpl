{{/*
drain-proxy.compatibility.openshift: "true" when securityContexts are adapted
to OpenShift's restricted SCCs, as bitnami/common does it, from
global.compatibility.openshift.adaptSecurityContext: force (always), auto (the
default here: when the cluster serves security.openshift.io/v1) or disabled.
Usage:
  {{ if include "drain-proxy.compatibility.openshift" (dict "values" .Values.drainProxy "context" $) }}...{{ end }}
*/}}
{{- define "drain-proxy.compatibility.openshift" -}}
{{- $global := include "drain-proxy.images.global" . | fromYaml -}}
{{- $adapt := (($global.compatibility).openshift).adaptSecurityContext | default "auto" -}}
{{- if not (has $adapt (list "auto" "force" "disabled")) -}}
{{- fail (printf "drain-proxy: global.compatibility.openshift.adaptSecurityContext is %q: use auto, force or disabled" (toString $adapt)) -}}
{{- end -}}
{{- if or (eq $adapt "force") (and (eq $adapt "auto") (.context.Capabilities.APIVersions.Has "security.openshift.io/v1")) -}}
true
{{- end -}}
{{- end -}}

{{/*
drain-proxy.compatibility.securityContext: a container securityContext as
YAML. Adapted for OpenShift (drain-proxy.compatibility.openshift), it loses
runAsUser, runAsGroup and fsGroup, which the restricted SCC assigns from the
namespace's range and refuses when set outside it (drain-proxy's image runs as
any UID: it writes nothing), and an empty seLinuxOptions; runAsNonRoot and the
rest stay.
Usage:
  securityContext:
    {{- include "drain-proxy.compatibility.securityContext" (dict "securityContext" .Values.securityContext "values" .Values.drainProxy "context" $) | nindent 12 }}
*/}}
{{- define "drain-proxy.compatibility.securityContext" -}}
{{- $sc := .securityContext | default dict -}}
{{- if include "drain-proxy.compatibility.openshift" . -}}
{{- $sc = omit $sc "runAsUser" "runAsGroup" "fsGroup" -}}
{{- if not $sc.seLinuxOptions -}}
{{- $sc = omit $sc "seLinuxOptions" -}}
{{- end -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end -}}
