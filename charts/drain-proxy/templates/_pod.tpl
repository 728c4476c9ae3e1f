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
drain-proxy.pod.volumes: the pod volumes the sidecar mounts, as list items:
the tls.secretName Secret when TLS is on; nothing otherwise. For pods that
already have volumes; otherwise drain-proxy.pod.spec renders the key too.
Usage (inside your volumes list):
  volumes:
    - name: your-volume
      emptyDir: {}
    {{- include "drain-proxy.pod.volumes" (dict "values" .Values.drainProxy "context" $) | nindent 4 }}
*/}}
{{- define "drain-proxy.pod.volumes" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- with ((.values).tls).secretName -}}
- name: {{ include "drain-proxy.sidecar.tlsVolumeName" $ }}
  secret:
    secretName: {{ . | quote }}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.pod.terminationGracePeriodSeconds: the pod spec key, derived from
drain.timeoutSeconds + graceMarginSeconds unless terminationGracePeriodSeconds
is set (and then checked to exceed drain.timeoutSeconds). Fails when the pod
spec around it sets terminationGracePeriodSeconds itself: set
drainProxy.terminationGracePeriodSeconds instead.
Usage (at the pod spec's indentation):
  {{- include "drain-proxy.pod.terminationGracePeriodSeconds" (dict "values" .Values.drainProxy "context" $) | nindent 6 }}
*/}}
{{- define "drain-proxy.pod.terminationGracePeriodSeconds" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- if include "drain-proxy.pod.probing" . -}}
drainProxyProbe.drain-proxy.pod.terminationGracePeriodSeconds: terminationGracePeriodSeconds
{{- else -}}
{{- include "drain-proxy.pod.checkOwnKeys" . -}}
terminationGracePeriodSeconds: {{ include "drain-proxy.pod.gracePeriod" . }}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.pod.spec: the pod spec keys drain-proxy owns:
terminationGracePeriodSeconds, imagePullSecrets when there are any (see
drain-proxy.pod.imagePullSecrets; pass your app's images to merge theirs), in
native mode initContainers holding the sidecar, and with tls.secretName the
volumes holding its Secret. For pods that set none of these keys themselves
(otherwise use drain-proxy.pod.terminationGracePeriodSeconds,
drain-proxy.pod.imagePullSecrets, drain-proxy.pod.initContainers and
drain-proxy.pod.volumes in their place); it fails when the pod spec around it
sets one of them.
Usage (at the pod spec's indentation):
  {{- include "drain-proxy.pod.spec" (dict "values" .Values.drainProxy "context" $) | nindent 6 }}
*/}}
{{- define "drain-proxy.pod.spec" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $native := eq (include "drain-proxy.sidecar.mode" .) "native" -}}
{{- $pullSecrets := include "drain-proxy.images.pullSecretNames" . -}}
{{- $volumes := include "drain-proxy.pod.volumes" . -}}
{{- if include "drain-proxy.pod.probing" . -}}
drainProxyProbe.drain-proxy.pod.spec: {{ compact (list "terminationGracePeriodSeconds" (ternary "imagePullSecrets" "" (ne $pullSecrets "")) (ternary "initContainers" "" $native) (ternary "volumes" "" (ne $volumes ""))) | join "," }}
{{- else -}}
{{- include "drain-proxy.pod.checkOwnKeys" . -}}
terminationGracePeriodSeconds: {{ include "drain-proxy.pod.gracePeriod" . }}
{{- include "drain-proxy.images.pullSecrets" . }}
{{- if $native }}
initContainers:
  {{- include "drain-proxy.sidecar.container" . | nindent 2 }}
{{- end }}
{{- if $volumes }}
volumes:
  {{- $volumes | nindent 2 }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.pod.annotations: annotations for the pod template, inside its
metadata.annotations:
  drain-proxy/mode         native or classic: where the sidecar went
  drain-proxy/mode-reason  what decided it: drainProxy.mode, or for auto the
                           Kubernetes version Helm reported (under helm
                           template that is Helm's own default, not your
                           cluster's, unless --kube-version is given)
  kubectl.kubernetes.io/default-container
                           the app container (defaultContainer), so kubectl
                           logs/exec/attach pick the app, not the proxy (in
                           classic mode the proxy comes first in containers)
Usage (inside the pod template's metadata):
  annotations:
    {{- include "drain-proxy.pod.annotations" (dict "values" .Values.drainProxy "context" $ "defaultContainer" "app") | nindent 8 }}
*/}}
{{- define "drain-proxy.pod.annotations" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- $app := required "drain-proxy: pass the app container's name to drain-proxy.pod.annotations, so kubectl logs and exec pick the app and not the proxy: (dict \"values\" .Values.drainProxy \"context\" $ \"defaultContainer\" \"app\")" .defaultContainer -}}
{{- if eq (toString $app) ((.values).containerName | default "drain-proxy") -}}
{{- fail (printf "drain-proxy: defaultContainer is %q, the proxy's own container: name the app container" (toString $app)) -}}
{{- end -}}
drain-proxy/mode: {{ include "drain-proxy.sidecar.mode" . }}
drain-proxy/mode-reason: {{ include "drain-proxy.sidecar.modeReason" . | quote }}
kubectl.kubernetes.io/default-container: {{ $app | quote }}
{{- end -}}

{{/*
drain-proxy.pod.probing: "true" while drain-proxy.pod.checkOwnKeys renders the
calling template file to read its pod spec; empty otherwise.
Usage:
  {{ if include "drain-proxy.pod.probing" (dict "values" .Values.drainProxy "context" $) }}...{{ end }}
*/}}
{{- define "drain-proxy.pod.probing" -}}
{{- if hasKey .context "drainProxyProbe" }}true{{ end -}}
{{- end -}}

{{/*
drain-proxy.pod.checkOwnKeys: renders nothing; fails with a message when a pod
spec that holds drain-proxy's pod templates
  - sets a key one of them renders (terminationGracePeriodSeconds,
    imagePullSecrets, initContainers, volumes): YAML would keep one of the two, silently;
  - gets the same key from two of them;
  - gives a container other than the proxy a port named like one of the
    proxy's (listen.portName, admin.portName, http.ports, tcp.ports): a
    Service's named targetPort resolves to a regular container's port before
    a native sidecar's, so the Service would bypass the proxy;
  - holds the proxy with tls.secretName set but not the volume it mounts
    (drain-proxy.pod.volumes).
It renders the calling template file ($.Template.Name) once more, in which
each drain-proxy pod template renders a marker key instead of its keys, and
reads the pod specs holding markers: spec.template.spec (Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job), spec.jobTemplate.spec.template.spec
(CronJob) or spec (Pod). Once per template file.
Usage (first thing in drain-proxy's pod templates that render pod spec keys):
  {{- include "drain-proxy.pod.checkOwnKeys" . -}}
*/}}
{{- define "drain-proxy.pod.checkOwnKeys" -}}
{{- $ctx := .context -}}
{{- $file := (($ctx.Template).Name) | default "" -}}
{{- if and $file (not (hasKey $ctx "drainProxyChecked")) -}}
{{- $_ := set $ctx "drainProxyChecked" true -}}
{{- $_ = set $ctx "drainProxyProbe" true -}}
{{- $rendered := include $file $ctx -}}
{{- $_ = unset $ctx "drainProxyProbe" -}}
{{- $v := .values -}}
{{- $proxy := $v.containerName | default "drain-proxy" -}}
{{- $proxyPorts := list (toString ($v.listen).portName) (toString ($v.admin).portName) -}}
{{- range (($v.http).ports | default list) }}{{ $proxyPorts = append $proxyPorts (include "drain-proxy.sidecar.httpPortName" .) }}{{ end -}}
{{- range (($v.tcp).ports | default list) }}{{ $proxyPorts = append $proxyPorts (include "drain-proxy.sidecar.tcpPortName" .) }}{{ end -}}
{{- $tlsVolume := include "drain-proxy.sidecar.tlsVolumeName" . -}}
{{- $tlsVolumes := include "drain-proxy.pod.volumes" . | fromYamlArray -}}
{{- range $doc := regexSplit "(?m)^---" $rendered -1 -}}
{{- if contains "drainProxyProbe." $doc -}}
{{- $object := fromYaml $doc -}}
{{- range $spec := list ((($object.spec).template).spec) ((((($object.spec).jobTemplate).spec).template).spec) $object.spec -}}
{{- $owners := dict -}}
{{- if kindIs "map" $spec -}}
{{- range $key, $keys := $spec -}}
{{- if hasPrefix "drainProxyProbe." $key -}}
{{- $template := trimPrefix "drainProxyProbe." $key -}}
{{- range (splitList "," (toString $keys) | compact) -}}
{{- if hasKey $owners . -}}
{{- fail (printf "drain-proxy: %s: the pod spec gets %s from both %s and %s: keep one (drain-proxy.pod.spec renders terminationGracePeriodSeconds, imagePullSecrets and, in native mode, initContainers)" $file . (get $owners .) $template) -}}
{{- end -}}
{{- $_ := set $owners . $template -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $key, $template := $owners -}}
{{- if hasKey $spec $key -}}
{{- $instead := get (dict
  "terminationGracePeriodSeconds" "remove it and set drainProxy.terminationGracePeriodSeconds (it must exceed drainProxy.drain.timeoutSeconds)"
  "imagePullSecrets" "replace it with drain-proxy.pod.imagePullSecrets, passing your images: (dict ... \"images\" (list .Values.image))"
  "initContainers" "keep yours and include drain-proxy.pod.initContainers inside it, with drain-proxy.pod.terminationGracePeriodSeconds in place of drain-proxy.pod.spec"
  "volumes" "keep yours and include drain-proxy.pod.volumes inside it, with drain-proxy.pod.terminationGracePeriodSeconds (and drain-proxy.pod.initContainers) in place of drain-proxy.pod.spec") $key -}}
{{- fail (printf "drain-proxy: %s: the pod spec sets %s itself and %s renders it too, so one of them would be lost: %s" $file $key $template $instead) -}}
{{- end -}}
{{- end -}}
{{- if $owners -}}
{{- $hasProxy := false -}}
{{- range (concat ($spec.initContainers | default list) ($spec.containers | default list)) }}{{ if eq (toString .name) $proxy }}{{ $hasProxy = true }}{{ end }}{{ end -}}
{{- if and $tlsVolumes (not (hasKey $owners "volumes")) -}}
{{- $given := 0 -}}
{{- range ($spec.volumes | default list) }}{{ if and (eq (toString .name) $tlsVolume) (eq (toJson .) (toJson (index $tlsVolumes 0))) }}{{ $given = add1 $given }}{{ end }}{{ end -}}
{{- if and $hasProxy (eq $given 0) -}}
{{- fail (printf "drain-proxy: %s: tls.secretName is set, and the pod spec lacks the volume the proxy mounts it from (%s): include drain-proxy.pod.volumes inside its volumes (or use drain-proxy.pod.spec, which renders them when the pod has none of its own)" $file $tlsVolume) -}}
{{- end -}}
{{- end -}}
{{- range $container := concat ($spec.initContainers | default list) ($spec.containers | default list) -}}
{{- if ne (toString $container.name) $proxy -}}
{{- range ($container.ports | default list) -}}
{{- if has (toString .name) $proxyPorts -}}
{{- fail (printf "drain-proxy: %s: container %s has a port named %s, like the proxy's: a Service's targetPort %s would reach %s, not the proxy (named ports resolve in regular containers before native sidecars). Rename or remove that port of %s (the proxy listens in front of it)" $file (toString $container.name) (toString .name) (toString .name) (toString $container.name) (toString $container.name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
