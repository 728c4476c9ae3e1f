{{/*
drain-proxy.service.ports: Service ports for a workload behind drain-proxy:
the public port, targeting the proxy's port by name (listen.portName, `http`
by default), one port per http.ports and tcp.ports entry, and, when monitoring.serviceMonitor is enabled, the admin port for
the ServiceMonitor. A Service that already targets the port name `http` needs
none of this: the proxy takes that name over.
Usage (inside the Service's ports list; port defaults to 80):
  ports:
    {{- include "drain-proxy.service.ports" (dict "values" .Values.drainProxy "context" $ "port" .Values.service.port) | nindent 4 }}
*/}}
{{- define "drain-proxy.service.ports" -}}
{{- include "drain-proxy.validate.values" . -}}
- name: {{ ((.values).listen).portName }}
  port: {{ int (.port | default 80) }}
  targetPort: {{ ((.values).listen).portName }}
  protocol: TCP
{{- range ((((.values).http).ports) | default list) }}
{{- $name := include "drain-proxy.sidecar.httpPortName" . }}
- name: {{ $name }}
  port: {{ int .port }}
  targetPort: {{ $name }}
  protocol: TCP
{{- end }}
{{- range ((((.values).tcp).ports) | default list) }}
{{- $name := include "drain-proxy.sidecar.tcpPortName" . }}
- name: {{ $name }}
  port: {{ int .port }}
  targetPort: {{ $name }}
  protocol: TCP
{{- end }}
{{- include "drain-proxy.service.adminPort" . }}
{{- end -}}

{{/*
drain-proxy.service.adminPort: the admin port as a Service port list item,
only when monitoring.serviceMonitor is enabled (the ServiceMonitor scrapes it
by name). /drain stays refused to callers other than loopback, the node and
holders of drain.token.
Usage (inside the Service's ports list):
    {{- include "drain-proxy.service.adminPort" (dict "values" .Values.drainProxy "context" $) | nindent 4 }}
*/}}
{{- define "drain-proxy.service.adminPort" -}}
{{- if (((.values).monitoring).serviceMonitor).enabled }}
- name: {{ ((.values).admin).portName }}
  port: {{ int ((.values).admin).port }}
  targetPort: {{ ((.values).admin).portName }}
  protocol: TCP
{{- end }}
{{- end -}}
