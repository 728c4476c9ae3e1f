{{/*
Images, as bitnami/common names them: an image is a dict of registry,
repository, tag (a string) and digest; global.imageRegistry, when set,
replaces every image's registry; pull secrets are names or {name: ...}, from
global.imagePullSecrets and each image's pullSecrets.
*/}}

{{/*
drain-proxy.images.global: the Helm global values drain-proxy reads
(imageRegistry, imagePullSecrets, compatibility), as YAML: the ones handed to
the drain-proxy values (a dependency gets its parent's), else the root's.
Usage:
  {{ $global := include "drain-proxy.images.global" (dict "values" .Values.drainProxy "context" $) | fromYaml }}
*/}}
{{- define "drain-proxy.images.global" -}}
{{- toYaml ((.values).global | default ((.context).Values).global | default dict) -}}
{{- end -}}

{{/*
drain-proxy.images.image: an image reference: [registry/]repository, then
@digest when a digest is set, :tag otherwise. global.imageRegistry overrides
image.registry. Fails on a tag that is not a string (YAML reads tag: 1.10 as
the number 1.1: quote it).
Usage:
  {{ include "drain-proxy.images.image" (dict "image" .Values.app.image "values" .Values.drainProxy "context" $) }}
*/}}
{{- define "drain-proxy.images.image" -}}
{{- $image := required "drain-proxy: drain-proxy.images.image needs an image: (dict \"image\" .Values.image \"values\" .Values.drainProxy \"context\" $)" .image -}}
{{- $repository := required "drain-proxy: image.repository is required: the registry path of the image" $image.repository -}}
{{- if not $image.digest -}}
{{- if or (kindIs "invalid" $image.tag) (eq (toString $image.tag) "") -}}
{{- fail (printf "drain-proxy: image %s has neither a tag nor a digest: set one" $repository) -}}
{{- else if not (kindIs "string" $image.tag) -}}
{{- fail (printf "drain-proxy: the tag of image %s must be a string (YAML reads an unquoted 1.10 as the number 1.1): quote it, e.g. tag: \"1.10\"" $repository) -}}
{{- end -}}
{{- end -}}
{{- $global := include "drain-proxy.images.global" . | fromYaml -}}
{{- $registry := $global.imageRegistry | default $image.registry | toString | trimSuffix "/" -}}
{{- $name := ternary (printf "%s/%s" $registry $repository) $repository (ne $registry "") -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $name $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $name $image.tag -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.pod.imagePullSecrets: the pod's imagePullSecrets key, holding
global.imagePullSecrets, drain-proxy's image.pullSecrets and the pullSecrets
of the images given (your app's), each name once; nothing when there are none.
drain-proxy.pod.spec renders it too: use this one in a pod spec that has
imagePullSecrets of its own, in their place. Fails when the pod spec around it
already sets imagePullSecrets.
Usage (at the pod spec's indentation):
  {{- include "drain-proxy.pod.imagePullSecrets" (dict "values" .Values.drainProxy "context" $ "images" (list .Values.image)) | nindent 6 }}
*/}}
{{- define "drain-proxy.pod.imagePullSecrets" -}}
{{- include "drain-proxy.validate.values" . -}}
{{- if include "drain-proxy.pod.probing" . -}}
drainProxyProbe.drain-proxy.pod.imagePullSecrets: {{ ternary "imagePullSecrets" "" (ne (include "drain-proxy.images.pullSecretNames" .) "") | quote }}
{{- else -}}
{{- include "drain-proxy.pod.checkOwnKeys" . -}}
{{- include "drain-proxy.images.pullSecrets" . | trim -}}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.images.pullSecrets: the imagePullSecrets key and list (see
drain-proxy.pod.imagePullSecrets), or nothing.
Usage:
  {{ include "drain-proxy.images.pullSecrets" (dict "values" .Values.drainProxy "context" $ "images" (list .Values.image)) }}
*/}}
{{- define "drain-proxy.images.pullSecrets" -}}
{{- $names := include "drain-proxy.images.pullSecretNames" . -}}
{{- if $names }}
imagePullSecrets:
{{- range splitList "," $names }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
drain-proxy.images.pullSecretNames: the pull secret names, comma-separated,
in order (global first), each once.
Usage:
  {{ include "drain-proxy.images.pullSecretNames" (dict "values" .Values.drainProxy "context" $ "images" (list .Values.image)) }}
*/}}
{{- define "drain-proxy.images.pullSecretNames" -}}
{{- $global := include "drain-proxy.images.global" . | fromYaml -}}
{{- $names := list -}}
{{- $lists := list ($global.imagePullSecrets | default list) (((.values).image).pullSecrets | default list) -}}
{{- range (.images | default list) }}
{{- if kindIs "map" . }}{{ $lists = append $lists (get . "pullSecrets" | default list) }}{{ end }}
{{- end }}
{{- range $lists }}
{{- range . }}
{{- $name := . -}}
{{- if kindIs "map" . }}{{ $name = .name }}{{ end -}}
{{- $name = toString $name -}}
{{- if not (regexMatch "^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$" $name) -}}
{{- fail (printf "drain-proxy: image pull secret %q is not a Secret name (lowercase letters, digits, - and .)" $name) -}}
{{- end -}}
{{- $names = append $names $name -}}
{{- end }}
{{- end }}
{{- join "," ($names | uniq) -}}
{{- end -}}
