{{/*
drain-proxy.scaling.podDisruptionBudget: a PodDisruptionBudget (policy/v1) for
the workload's pods, when podDisruptionBudget is enabled. Evictions then drain
one pod at a time (maxUnavailable: 1 by default).
Usage:
  {{ include "drain-proxy.scaling.podDisruptionBudget" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .) "selectorLabels" (include "mychart.selectorLabels" . | fromYaml)) }}
*/}}
{{- define "drain-proxy.scaling.podDisruptionBudget" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $pdb := (.values).podDisruptionBudget | default dict -}}
{{- if $pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "drain-proxy.names.object" (dict "name" .name "suffix" "drain-proxy") }}
  namespace: {{ .context.Release.Namespace | quote }}
  labels:
    {{- include "drain-proxy.labels.standard" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $pdb.minAvailable) }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "drain-proxy.names.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
drain-proxy.scaling.horizontalPodAutoscaler: an HPA (autoscaling/v2) scaling
the workload on the average number of open client connections per pod
(drain_proxy_connections_active, summed over protocols, served by the custom
metrics API: the prometheus-adapter rule is in docs/helm.md), when autoscaling
is enabled. Long-lived connections (WebSocket, streaming) load a pod without
using CPU, so connections are the signal. Scale-downs are stabilized, since
each removed pod drains its clients, and remove one pod per drain deadline
(drain.timeoutSeconds + 5 s), capped at 1800 s, the longest period the API
server accepts: with drains longer than 1795 s, two pods may drain at once.
Usage:
  {{ include "drain-proxy.scaling.horizontalPodAutoscaler" (dict "values" .Values.drainProxy "context" $ "name" (include "mychart.fullname" .)) }}
*/}}
{{- define "drain-proxy.scaling.horizontalPodAutoscaler" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $hpa := (.values).autoscaling | default dict -}}
{{- if $hpa.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "drain-proxy.names.object" (dict "name" .name "suffix" "drain-proxy") }}
  namespace: {{ .context.Release.Namespace | quote }}
  labels:
    {{- include "drain-proxy.labels.standard" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ $hpa.targetKind | default "Deployment" }}
    name: {{ required "drain-proxy: pass the workload's name to this template: (dict ... \"name\" (include \"mychart.fullname\" .))" .name }}
  minReplicas: {{ int ($hpa.minReplicas | default 2) }}
  maxReplicas: {{ int ($hpa.maxReplicas | default 10) }}
  metrics:
    - type: Pods
      pods:
        metric:
          name: drain_proxy_connections_active
        target:
          type: AverageValue
          averageValue: {{ int ($hpa.connectionsPerPod | default 500) | quote }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ int ($hpa.scaleDownStabilizationSeconds | default 300) }}
      policies:
        - type: Pods
          value: 1
          periodSeconds: {{ min (add (int ((.values).drain).timeoutSeconds) 5) 1800 }}
{{- end }}
{{- end -}}
