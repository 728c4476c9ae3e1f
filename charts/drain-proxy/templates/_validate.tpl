{{/*
drain-proxy.validate.values: checks the values as a whole and fails with a
message saying what to change; renders nothing. values.schema.json already
rejects wrong types and out-of-range numbers when the values come from the
dependency; these are the checks a JSON schema cannot express (relations
between values, the cluster version) and a guard for callers that pass values
from elsewhere. Every public template of this chart calls it first.
Usage:
  {{ include "drain-proxy.validate.values" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.validate.values" -}}
{{- $v := required "drain-proxy: no values given. Add the chart as a dependency with `alias: drainProxy` and call its templates with (dict \"values\" .Values.drainProxy \"context\" $)" .values -}}
{{- $ctx := required "drain-proxy: no context given: call its templates with (dict \"values\" .Values.drainProxy \"context\" $)" .context -}}
{{- /* The chart's own kubeVersion (Chart.yaml), which Helm checks only for the root chart. */ -}}
{{- if not (semverCompare ">=1.23.0-0" $ctx.Capabilities.KubeVersion.Version) -}}
{{- fail (printf "drain-proxy: needs Kubernetes 1.23 or later (its HorizontalPodAutoscaler is autoscaling/v2, its PodDisruptionBudget policy/v1); this cluster is %s" $ctx.Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- $mode := $v.mode | default "auto" -}}
{{- if not (has $mode (list "auto" "native" "classic")) -}}
{{- fail (printf "drain-proxy: mode %q is not one of auto, native, classic" $mode) -}}
{{- end -}}
{{- if and (eq $mode "native") (not (semverCompare ">=1.29.0-0" $ctx.Capabilities.KubeVersion.Version)) -}}
{{- fail (printf "drain-proxy: mode native needs Kubernetes 1.29 or later (native sidecars are on by default from 1.29); this cluster is %s: set drainProxy.mode to classic or auto" $ctx.Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- $listenPort := int (required "drain-proxy: listen.port is required (the proxy's public port, e.g. 8000)" ($v.listen).port) -}}
{{- $adminPort := int (required "drain-proxy: admin.port is required (the admin port of probes and /drain, e.g. 9901)" ($v.admin).port) -}}
{{- $upstreamPort := int (required "drain-proxy: upstream.port is required: the port your app listens on in the pod" ($v.upstream).port) -}}
{{- $upstreamHost := required "drain-proxy: upstream.host is required (usually 127.0.0.1)" ($v.upstream).host -}}
{{- if eq $listenPort $adminPort -}}
{{- fail (printf "drain-proxy: listen.port and admin.port are both %d: give the admin port another number" $listenPort) -}}
{{- end -}}
{{- /* Every port the proxy listens on is bound once, and no upstream port
  is one of them (the app is in the same pod: that port would be the proxy
  itself). The proxy refuses both at start; port names are unique in a pod. */ -}}
{{- $owners := dict (toString $listenPort) "listen.port" (toString $adminPort) "admin.port" -}}
{{- $names := list (toString ($v.listen).portName) (toString ($v.admin).portName) -}}
{{- $extra := list -}}
{{- range ((($v.http).ports) | default list) -}}
{{- $port := int (required "drain-proxy: each http.ports entry needs port (the port the proxy listens on)" .port) -}}
{{- $_ := int (required "drain-proxy: each http.ports entry needs upstreamPort (the app's port it forwards to)" .upstreamPort) -}}
{{- $extra = append $extra (list "http.ports" $port (int .upstreamPort) (include "drain-proxy.sidecar.httpPortName" .)) -}}
{{- end -}}
{{- range ((($v.tcp).ports) | default list) -}}
{{- $port := int (required "drain-proxy: each tcp.ports entry needs port (the port the proxy listens on)" .port) -}}
{{- $_ := int (required "drain-proxy: each tcp.ports entry needs upstreamPort (the app's port it forwards to)" .upstreamPort) -}}
{{- $extra = append $extra (list "tcp.ports" $port (int .upstreamPort) (include "drain-proxy.sidecar.tcpPortName" .)) -}}
{{- end -}}
{{- range $extra -}}
{{- $value := index . 0 -}}
{{- $port := index . 1 -}}
{{- with get $owners (toString $port) -}}
{{- fail (printf "drain-proxy: %s: port %d is already taken by %s (the proxy binds each port once): give it another number" $value $port .) -}}
{{- end -}}
{{- $_ := set $owners (toString $port) $value -}}
{{- $name := index . 3 -}}
{{- if has $name $names -}}
{{- fail (printf "drain-proxy: %s: port name %s is used twice (port names are unique within a pod): set a distinct name" $value $name) -}}
{{- end -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- with get $owners (toString $upstreamPort) -}}
{{- fail (printf "drain-proxy: upstream.port %d is a port of the proxy itself (%s): set upstream.port to the port your app listens on" $upstreamPort .) -}}
{{- end -}}
{{- range $entry := $extra -}}
{{- with get $owners (toString (index $entry 2)) -}}
{{- fail (printf "drain-proxy: %s: upstreamPort %d is a port of the proxy itself (%s): set it to the port your app listens on" (index $entry 0) (index $entry 2) .) -}}
{{- end -}}
{{- end -}}
{{- if has (($v.admin).address | default "") (list "127.0.0.1" "::1" "localhost") -}}
{{- fail "drain-proxy: admin.address must not be a loopback address: probes and the preStop hook come from the node. Leave it empty" -}}
{{- end -}}
{{- if eq (toString (($v.listen).portName | default "")) (toString (($v.admin).portName | default "")) -}}
{{- fail "drain-proxy: listen.portName and admin.portName must differ (port names are unique within a pod)" -}}
{{- end -}}
{{- $delay := int (required "drain-proxy: drain.delaySeconds is required (seconds of accepting new connections after the drain starts, e.g. 5)" ($v.drain).delaySeconds) -}}
{{- $timeout := int (required "drain-proxy: drain.timeoutSeconds is required (the drain deadline in seconds, e.g. 25)" ($v.drain).timeoutSeconds) -}}
{{- if ge $delay $timeout -}}
{{- fail (printf "drain-proxy: drain.delaySeconds (%d) must be less than drain.timeoutSeconds (%d): the deadline counts from the drain's start and includes the delay. Raise drain.timeoutSeconds or lower drain.delaySeconds" $delay $timeout) -}}
{{- end -}}
{{- /* Long-lived connections are told to go between the delay and the
  deadline, and WebSocket closing handshakes end before it: explicit values
  must fit there (the proxy refuses them otherwise; empty ones it shortens to
  fit). 2000 is the proxy's WS_CLOSE_TIMEOUT default. websocket.closeSpread
  is the older name of drain.closeSpread. */ -}}
{{- $room := mul (sub $timeout $delay) 1000 -}}
{{- $ws := $v.websocket | default dict -}}
{{- if and ($v.drain).closeSpread $ws.closeSpread -}}
{{- fail (printf "drain-proxy: drain.closeSpread (%s) and websocket.closeSpread (%s) are both set: websocket.closeSpread is the older name of drain.closeSpread. Keep only drain.closeSpread" (toString ($v.drain).closeSpread) (toString $ws.closeSpread)) -}}
{{- end -}}
{{- $spreadValue := ternary "websocket.closeSpread" "drain.closeSpread" (empty ($v.drain).closeSpread) -}}
{{- $spread := coalesce ($v.drain).closeSpread $ws.closeSpread -}}
{{- $closeTimeoutMs := 2000 -}}
{{- if $ws.closeTimeout -}}
{{- $closeTimeoutMs = include "drain-proxy.util.durationMs" $ws.closeTimeout | int -}}
{{- if ge $closeTimeoutMs $room -}}
{{- fail (printf "drain-proxy: websocket.closeTimeout (%s) must be shorter than drain.timeoutSeconds - drain.delaySeconds (%ds): closing handshakes start at the delay and end before the deadline. Lower it, or leave it empty (the proxy then shortens its default to fit)" (toString $ws.closeTimeout) (sub $timeout $delay)) -}}
{{- end -}}
{{- end -}}
{{- $closeTimeoutMs = min $closeTimeoutMs $room -}}
{{- if $spread -}}
{{- $spreadMs := include "drain-proxy.util.durationMs" $spread | int -}}
{{- if gt (add $spreadMs $closeTimeoutMs) $room -}}
{{- fail (printf "drain-proxy: %s (%s) plus the WebSocket close timeout (%dms) must fit between drain.delaySeconds and drain.timeoutSeconds (%ds): lower it, or leave it empty (the proxy then shortens its default to fit)" $spreadValue (toString $spread) $closeTimeoutMs (sub $timeout $delay)) -}}
{{- end -}}
{{- end -}}
{{- $waitSeconds := int (include "drain-proxy.pod.finalScrapeWaitSeconds" .) -}}
{{- $derivedGrace := add $timeout (int ($v.graceMarginSeconds | default 5)) $waitSeconds -}}
{{- if not (kindIs "invalid" $v.terminationGracePeriodSeconds) -}}
{{- $grace := int $v.terminationGracePeriodSeconds -}}
{{- if le $grace $timeout -}}
{{- fail (printf "drain-proxy: terminationGracePeriodSeconds (%d) must be greater than drain.timeoutSeconds (%d), or the kubelet kills the pod before the drain deadline. Raise it (or leave it empty: drain.timeoutSeconds + graceMarginSeconds%s = %d), or lower drain.timeoutSeconds" $grace $timeout (ternary " + the final scrape wait" "" (gt $waitSeconds 0)) $derivedGrace) -}}
{{- end -}}
{{- if le $grace (add $timeout $waitSeconds) -}}
{{- fail (printf "drain-proxy: terminationGracePeriodSeconds (%d) must be greater than drain.timeoutSeconds (%d) + the final scrape wait (%ds, monitoring.finalScrapeWait: after its drain the proxy waits for the scrape that carries the drain's outcome), or the kubelet kills it first. Raise it (or leave it empty: %d), or lower monitoring.finalScrapeWait" $grace $timeout $waitSeconds $derivedGrace) -}}
{{- end -}}
{{- end -}}
{{- if and ((($v.monitoring).podMonitor).enabled) ((($v.monitoring).serviceMonitor).enabled) -}}
{{- fail "drain-proxy: monitoring.podMonitor.enabled and monitoring.serviceMonitor.enabled are both true: Prometheus would scrape every pod twice. Enable one of them" -}}
{{- end -}}
{{- $pdb := $v.podDisruptionBudget | default dict -}}
{{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) -}}
{{- fail "drain-proxy: podDisruptionBudget.minAvailable and podDisruptionBudget.maxUnavailable are both set: set one, and the other to null" -}}
{{- end -}}
{{- $hpa := $v.autoscaling | default dict -}}
{{- if and $hpa.enabled (gt (int $hpa.minReplicas) (int $hpa.maxReplicas)) -}}
{{- fail (printf "drain-proxy: autoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d)" (int $hpa.minReplicas) (int $hpa.maxReplicas)) -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.sidecar.mode: "native" or "classic", from mode and, for auto, the
cluster version (native sidecars are on by default from Kubernetes 1.29).
Usage:
  {{ include "drain-proxy.sidecar.mode" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.sidecar.mode" -}}
{{- $mode := (.values).mode | default "auto" -}}
{{- if eq $mode "auto" -}}
{{- ternary "native" "classic" (semverCompare ">=1.29.0-0" .context.Capabilities.KubeVersion.Version) -}}
{{- else -}}
{{- $mode -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.sidecar.modeReason: one line saying what chose the mode: the mode
value, or for auto the Kubernetes version Helm reported, with the caveat that
under helm template it is Helm's own default unless --kube-version is given.
Usage:
  {{ include "drain-proxy.sidecar.modeReason" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.sidecar.modeReason" -}}
{{- $mode := (.values).mode | default "auto" -}}
{{- $kube := .context.Capabilities.KubeVersion.Version -}}
{{- if eq $mode "auto" -}}
{{- printf "auto: Kubernetes %s as Helm reports it is %s 1.29; under helm template that is Helm's own default unless --kube-version is given" $kube (ternary "at or after" "before" (semverCompare ">=1.29.0-0" $kube)) -}}
{{- else -}}
{{- printf "drainProxy.mode is %s" $mode -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.pod.finalScrapeWaitSeconds: the final scrape wait the chart sets
(drain-proxy.monitoring.finalScrapeWaitMs) in whole seconds, rounded up; 0 when
the chart sets none.
Usage:
  {{ include "drain-proxy.pod.finalScrapeWaitSeconds" (dict "values" .Values.drainProxy "context" $) | int }}
*/}}
{{- define "drain-proxy.pod.finalScrapeWaitSeconds" -}}
{{- $ms := include "drain-proxy.monitoring.finalScrapeWaitMs" . | default "0" | int -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/*
drain-proxy.pod.gracePeriod: the pod's terminationGracePeriodSeconds as a
number: the explicit value, or drain.timeoutSeconds + graceMarginSeconds + the
final scrape wait the chart sets (drain-proxy.pod.finalScrapeWaitSeconds).
Usage:
  {{ include "drain-proxy.pod.gracePeriod" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.pod.gracePeriod" -}}
{{- $v := .values -}}
{{- if kindIs "invalid" $v.terminationGracePeriodSeconds -}}
{{- add (int ($v.drain).timeoutSeconds) (int ($v.graceMarginSeconds | default 5)) (int (include "drain-proxy.pod.finalScrapeWaitSeconds" .)) -}}
{{- else -}}
{{- int $v.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.util.durationMs: a duration as the proxy reads it (750ms, 5s, 2m,
1h or bare seconds) in whole milliseconds; fails on anything else.
Usage:
  {{ include "drain-proxy.util.durationMs" "750ms" | int }}
*/}}
{{- define "drain-proxy.util.durationMs" -}}
{{- $text := toString . | trim -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $text -}}
{{- $unit := trimPrefix $number $text | default "s" -}}
{{- $factor := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit -}}
{{- if or (eq $number "") (not $factor) -}}
{{- fail (printf "drain-proxy: %q is not a duration: use 750ms, 5s, 2m, 1h or a number of seconds" $text) -}}
{{- end -}}
{{- int64 (round (mulf (float64 $number) $factor) 0) -}}
{{- end -}}
