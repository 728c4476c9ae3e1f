{{/*
drain-proxy.sidecar.image: the sidecar's image reference (see
drain-proxy.images.image): [registry/]repository@digest when a digest is set,
[registry/]repository:tag otherwise; global.imageRegistry overrides
image.registry.
Usage:
  {{ include "drain-proxy.sidecar.image" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.sidecar.image" -}}
{{- include "drain-proxy.images.image" (dict "image" (required "drain-proxy: image.repository is required: the registry path of the image built from drain-proxy's Dockerfile" ((.values).image)) "values" .values "context" .context) -}}
{{- end -}}

{{/*
drain-proxy.sidecar.upstream: the UPSTREAM URL, http://<upstream.host>:<upstream.port>
(an IPv6 host in brackets).
Usage:
  {{ include "drain-proxy.sidecar.upstream" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.sidecar.upstream" -}}
{{- $host := toString ((.values).upstream).host -}}
{{- if and (contains ":" $host) (not (hasPrefix "[" $host)) -}}
{{- $host = printf "[%s]" $host -}}
{{- end -}}
{{- printf "http://%s:%d" $host (int ((.values).upstream).port) -}}
{{- end -}}

{{/*
drain-proxy.sidecar.tcpPortName: the port name of one tcp.ports entry: its
name, or tcp-<port>.
Usage:
  {{ include "drain-proxy.sidecar.tcpPortName" (index .Values.drainProxy.tcp.ports 0) }}
*/}}
{{- define "drain-proxy.sidecar.tcpPortName" -}}
{{- .name | default (printf "tcp-%d" (int .port)) -}}
{{- end -}}

{{/*
drain-proxy.sidecar.httpPortName: the port name of one http.ports entry: its
name, or http-<port>.
Usage:
  {{ include "drain-proxy.sidecar.httpPortName" (index .Values.drainProxy.http.ports 0) }}
*/}}
{{- define "drain-proxy.sidecar.httpPortName" -}}
{{- .name | default (printf "http-%d" (int .port)) -}}
{{- end -}}

{{/*
drain-proxy.sidecar.tlsDir: where the proxy container mounts the tls.secretName
Secret (the whole Secret volume, never a subPath: a subPath mount does not see
the kubelet's updates, so a renewed certificate would never arrive).
Usage:
  {{ include "drain-proxy.sidecar.tlsDir" . }}
*/}}
{{- define "drain-proxy.sidecar.tlsDir" -}}
/etc/drain-proxy/tls
{{- end -}}

{{/*
drain-proxy.sidecar.tlsVolumeName: the name of the pod volume holding the
tls.secretName Secret.
Usage:
  {{ include "drain-proxy.sidecar.tlsVolumeName" . }}
*/}}
{{- define "drain-proxy.sidecar.tlsVolumeName" -}}
drain-proxy-tls
{{- end -}}

{{/*
drain-proxy.sidecar.finalScrapeWait: FINAL_SCRAPE_WAIT as the proxy reads it
(off, 17s, 750ms), or nothing when the chart leaves it to the proxy (see
drain-proxy.monitoring.finalScrapeWaitMs).
Usage:
  {{ include "drain-proxy.sidecar.finalScrapeWait" (dict "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.sidecar.finalScrapeWait" -}}
{{- $ms := include "drain-proxy.monitoring.finalScrapeWaitMs" . -}}
{{- if eq $ms "0" -}}
off
{{- else if ne $ms "" -}}
{{- if eq (mod (int64 $ms) 1000) 0 }}{{ div (int64 $ms) 1000 }}s{{ else }}{{ $ms }}ms{{ end -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.sidecar.settings: the proxy's configuration as a list of
[VARIABLE, value] pairs, one per value of this chart, as YAML. This is the
mapping from values to the proxy's configuration contract
(src/config/schema.ts); test/charts checks it against that file. Booleans
become on/off; empty values are left out (the proxy's default applies).
Usage:
  {{ include "drain-proxy.sidecar.settings" (dict "values" .Values.drainProxy "context" $) | fromYamlArray }}
*/}}
{{- define "drain-proxy.sidecar.settings" -}}
{{- $v := .values -}}
{{- $drain := $v.drain | default dict -}}
{{- $ws := $v.websocket | default dict -}}
{{- $http := $v.http | default dict -}}
{{- $log := $v.log | default dict -}}
{{- $tcp := $v.tcp | default dict -}}
{{- $tcpPorts := list -}}
{{- range ($tcp.ports | default list) }}
{{- $tcpPorts = append $tcpPorts (printf "%d:%d" (int .port) (int .upstreamPort)) }}
{{- end -}}
{{- $httpPorts := list -}}
{{- range ($http.ports | default list) }}
{{- $httpPorts = append $httpPorts (printf "%d:%d" (int .port) (int .upstreamPort)) }}
{{- end -}}
{{- $tls := $v.tls | default dict -}}
{{- $tlsDir := include "drain-proxy.sidecar.tlsDir" . -}}
{{- $pairs := list
  (list "LISTEN_PORT" ($v.listen).port)
  (list "LISTEN_ADDRESS" ($v.listen).address)
  (list "PROXY_PROTOCOL" (($v.listen).proxyProtocol | default false))
  (list "HTTP_PORTS" (join "," $httpPorts))
  (list "TLS_CERT_FILE" (ternary (printf "%s/%s" $tlsDir ($tls.certKey | default "tls.crt")) "" (not (empty $tls.secretName))))
  (list "TLS_KEY_FILE" (ternary (printf "%s/%s" $tlsDir ($tls.keyKey | default "tls.key")) "" (not (empty $tls.secretName))))
  (list "UPSTREAM" (include "drain-proxy.sidecar.upstream" .))
  (list "UPSTREAM_PROTOCOL" ($v.upstream).protocol)
  (list "UPSTREAM_CONNECT_TIMEOUT" ($v.upstream).connectTimeout)
  (list "UPSTREAM_RESPONSE_TIMEOUT" ($v.upstream).responseTimeout)
  (list "ADMIN_PORT" ($v.admin).port)
  (list "ADMIN_ADDRESS" ($v.admin).address)
  (list "UPSTREAM_HEALTH" ($v.upstream).health)
  (list "HEALTH_INTERVAL" ($v.upstream).healthInterval)
  (list "DRAIN_DELAY" (printf "%ds" (int $drain.delaySeconds)))
  (list "DRAIN_TIMEOUT" (printf "%ds" (int $drain.timeoutSeconds)))
  (list "DRAIN_IDLE_CLOSE" $drain.idleClose)
  (list "CLOSE_SPREAD" (coalesce $drain.closeSpread $ws.closeSpread))
  (list "DRAIN_TOKEN" $drain.token)
  (list "WS_CLOSE_CODE" $ws.closeCode)
  (list "WS_CLOSE_REASON" $ws.closeReason)
  (list "WS_CLOSE_TIMEOUT" $ws.closeTimeout)
  (list "TCP_PORTS" (join "," $tcpPorts))
  (list "TCP_IDLE_CLOSE" $tcp.idleClose)
  (list "KEEPALIVE_TIMEOUT" $http.keepAliveTimeout)
  (list "HEADER_TIMEOUT" $http.headerTimeout)
  (list "REQUEST_BODY_TIMEOUT" $http.requestBodyTimeout)
  (list "MAX_HEADER_SIZE" $http.maxHeaderSize)
  (list "MAX_HEADER_COUNT" $http.maxHeaderCount)
  (list "MAX_CONNECTIONS" $http.maxConnections)
  (list "MAX_CONCURRENT_STREAMS" $http.maxConcurrentStreams)
  (list "STREAM_RESET_BURST" $http.streamResetBurst)
  (list "STREAM_RESET_RATE" $http.streamResetRate)
  (list "FORWARDED_HEADERS" $http.forwardedHeaders)
  (list "TRUSTED_PROXIES" $http.trustedProxies)
  (list "FINAL_SCRAPE_WAIT" (include "drain-proxy.sidecar.finalScrapeWait" .))
  (list "ACCESS_LOG" $log.access)
  (list "LOG_LEVEL" $log.level)
-}}
{{- range $pairs }}
{{- $value := index . 1 }}
{{- if kindIs "bool" $value }}
{{- $value = ternary "on" "off" $value }}
{{- else if kindIs "float64" $value }}
{{- $value = int64 $value }}
{{- end }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
- name: {{ index . 0 }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
drain-proxy.sidecar.env: the sidecar's env list: the settings above, HOST_IP
from the downward API (so /drain accepts the kubelet's hooks, which come from
the node), MEMORY_LIMIT from the container's own limits.memory (the memory
guard's limit), then extraEnv. Fails when extraEnv repeats a variable the chart sets.
Usage:
  env:
    {{- include "drain-proxy.sidecar.env" (dict "values" .Values.drainProxy "context" $) | nindent 4 }}
*/}}
{{- define "drain-proxy.sidecar.env" -}}
{{- $settings := include "drain-proxy.sidecar.settings" . | fromYamlArray -}}
{{- $names := list "HOST_IP" "MEMORY_LIMIT" -}}
{{- range $settings }}{{ $names = append $names .name }}{{ end -}}
{{- range ((.values).extraEnv | default list) }}
{{- if has .name $names }}
{{- fail (printf "drain-proxy: extraEnv sets %s, which the chart already sets from its values: set the matching drainProxy value instead (see the chart's values.yaml)" .name) }}
{{- end }}
{{- end -}}
{{- $hostIP := dict "name" "HOST_IP" "valueFrom" (dict "fieldRef" (dict "fieldPath" "status.hostIP")) -}}
{{- $memoryLimit := dict "name" "MEMORY_LIMIT" "valueFrom" (dict "resourceFieldRef" (dict "containerName" ((.values).containerName | default "drain-proxy") "resource" "limits.memory")) -}}
{{- toYaml (concat $settings (list $hostIP $memoryLimit) ((.values).extraEnv | default list)) -}}
{{- end -}}

{{/*
drain-proxy.sidecar.probes: startup and liveness probes on GET /livez,
readiness on GET /readyz, all on the admin port number; timings from probes.*.
The startup probe is /livez on purpose: a native sidecar must pass it before
the app containers start, and /readyz waits for the app.
Usage:
  {{- include "drain-proxy.sidecar.probes" (dict "values" .Values.drainProxy "context" $) | trim | nindent 2 }}
*/}}
{{- define "drain-proxy.sidecar.probes" -}}
{{- $port := int ((.values).admin).port -}}
{{- $probes := (.values).probes | default dict -}}
{{- range $kind, $path := dict "startupProbe" "/livez" "readinessProbe" "/readyz" "livenessProbe" "/livez" }}
{{ $kind }}:
  httpGet:
    path: {{ $path }}
    port: {{ $port }}
    scheme: HTTP
  {{- with (get $probes (trimSuffix "Probe" $kind)) }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
drain-proxy.app.preStop: the preStop hook for the app container (and, in
classic mode, the proxy's own): GET /drain?wait=1 on the admin port number.
The kubelet sends the container SIGTERM only when this answers, that is once
the drain has finished or reached its deadline. With drain.token set the hook
sends X-Drain-Token.
Usage (a container that already has a lifecycle block):
  lifecycle:
    {{- include "drain-proxy.app.preStop" (dict "values" .Values.drainProxy "context" $) | nindent 4 }}
*/}}
{{- define "drain-proxy.app.preStop" -}}
preStop:
  httpGet:
    path: /drain?wait=1
    port: {{ int ((.values).admin).port }}
    scheme: HTTP
    {{- with ((.values).drain).token }}
    httpHeaders:
      - name: X-Drain-Token
        value: {{ . | quote }}
    {{- end }}
{{- end -}}

{{/*
drain-proxy.app.lifecycle: a complete lifecycle block for the app container,
holding the preStop hook above.
Usage (inside the app container, at its keys' indentation):
  {{- include "drain-proxy.app.lifecycle" (dict "values" .Values.drainProxy "context" $) | nindent 10 }}
*/}}
{{- define "drain-proxy.app.lifecycle" -}}
{{- include "drain-proxy.validate.values" . -}}
lifecycle:
  {{- include "drain-proxy.app.preStop" . | nindent 2 }}
{{- end -}}

{{/*
drain-proxy.sidecar.container: the drain-proxy container as one list item, for
initContainers (native: restartPolicy Always) or containers (classic: with its
own preStop). Prefer drain-proxy.pod.initContainers and
drain-proxy.pod.containers, which place it by mode.
Usage:
  {{- include "drain-proxy.sidecar.container" (dict "values" .Values.drainProxy "context" $) | nindent 8 }}
*/}}
{{- define "drain-proxy.sidecar.container" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $v := .values -}}
{{- $native := eq (include "drain-proxy.sidecar.mode" .) "native" -}}
- name: {{ $v.containerName | default "drain-proxy" }}
  image: {{ include "drain-proxy.sidecar.image" . | quote }}
  imagePullPolicy: {{ ($v.image).pullPolicy | default "IfNotPresent" }}
  {{- if $native }}
  restartPolicy: Always
  {{- end }}
  ports:
    - name: {{ ($v.listen).portName }}
      containerPort: {{ int ($v.listen).port }}
      protocol: TCP
    - name: {{ ($v.admin).portName }}
      containerPort: {{ int ($v.admin).port }}
      protocol: TCP
    {{- range (($v.http).ports | default list) }}
    - name: {{ include "drain-proxy.sidecar.httpPortName" . }}
      containerPort: {{ int .port }}
      protocol: TCP
    {{- end }}
    {{- range (($v.tcp).ports | default list) }}
    - name: {{ include "drain-proxy.sidecar.tcpPortName" . }}
      containerPort: {{ int .port }}
      protocol: TCP
    {{- end }}
  env:
    {{- include "drain-proxy.sidecar.env" . | nindent 4 }}
  {{- if ($v.tls).secretName }}
  volumeMounts:
    - name: {{ include "drain-proxy.sidecar.tlsVolumeName" . }}
      mountPath: {{ include "drain-proxy.sidecar.tlsDir" . }}
      readOnly: true
  {{- end }}
  {{- include "drain-proxy.sidecar.probes" . | trim | nindent 2 }}
  {{- if not $native }}
  lifecycle:
    {{- include "drain-proxy.app.preStop" . | nindent 4 }}
  {{- end }}
  terminationMessagePolicy: {{ $v.terminationMessagePolicy | default "FallbackToLogsOnError" }}
  {{- with $v.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.securityContext }}
  securityContext:
    {{- include "drain-proxy.compatibility.securityContext" (dict "securityContext" . "values" $v "context" $.context) | nindent 4 }}
  {{- end }}
{{- end -}}
