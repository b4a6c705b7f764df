{{/* Names. */}}
{{- define "llmrank.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llmrank.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "llmrank.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "llmrank.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "llmrank.secretName" -}}
{{ .Values.existingSecret | default (include "llmrank.fullname" .) }}
{{- end -}}

{{/* The PostgreSQL host: the chart's own, or the external one. */}}
{{- define "llmrank.pgHost" -}}
{{- if .Values.postgresql.enabled -}}
{{ include "llmrank.fullname" . }}-postgresql
{{- else -}}
{{ required "postgresql.external.host is required when postgresql.enabled is false" .Values.postgresql.external.host }}
{{- end -}}
{{- end -}}

{{- define "llmrank.pgPort" -}}
{{- if .Values.postgresql.enabled -}}5432{{- else -}}{{ .Values.postgresql.external.port }}{{- end -}}
{{- end -}}

{{- define "llmrank.redisUrl" -}}
{{- if .Values.redis.enabled -}}
redis://{{ include "llmrank.fullname" . }}-redis:6379
{{- else -}}
{{ required "redis.externalUrl is required when redis.enabled is false" .Values.redis.externalUrl }}
{{- end -}}
{{- end -}}

{{/* The password's Secret and key. */}}
{{- define "llmrank.pgSecretRef" -}}
{{- if and (not .Values.postgresql.enabled) .Values.postgresql.external.existingSecret -}}
name: {{ .Values.postgresql.external.existingSecret }}
key: {{ .Values.postgresql.external.passwordKey }}
{{- else -}}
name: {{ include "llmrank.secretName" . }}
key: postgres-password
{{- end -}}
{{- end -}}

{{/* Security settings shared by the llmrank containers. */}}
{{- define "llmrank.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "llmrank.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Environment of every llmrank container: the config file and the secrets. */}}
{{- define "llmrank.env" -}}
{{- include "llmrank.envAs" (dict "root" . "login" "") -}}
{{- end -}}

{{/* True when serve, simulate and Grafana use least-privilege logins (the chart's PostgreSQL). */}}
{{- define "llmrank.leastPrivilege" -}}
{{- if and .Values.postgresql.enabled .Values.postgresql.leastPrivilege -}}true{{- end -}}
{{- end -}}

{{/* The env of an llmrank container connecting as `login` (serve, simulate; "" = the owner). */}}
{{- define "llmrank.envAs" -}}
{{- $root := .root -}}
- name: LLMRANK_CONFIG
  value: /etc/llmrank/llmrank.toml
{{- if and .login (include "llmrank.leastPrivilege" $root) }}
- name: LLMRANK_DATABASE__USER
  value: llmrank_{{ .login }}
- name: LLMRANK_DATABASE__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "llmrank.secretName" $root }}
      key: {{ .login }}-db-password
{{- else }}
- name: LLMRANK_DATABASE__PASSWORD
  valueFrom:
    secretKeyRef:
      {{- include "llmrank.pgSecretRef" $root | nindent 6 }}
{{- end }}
{{- if $root.Values.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "llmrank.secretName" $root }}
      key: redis-password
- name: LLMRANK_REDIS__URL
  value: "redis://:$(REDIS_PASSWORD)@{{ include "llmrank.fullname" $root }}-redis:6379"
{{- end }}
{{- end -}}

{{/* The init container that applies migrations and seeds the catalogue (idempotent, locked). */}}
{{- define "llmrank.seedInit" -}}
- name: seed
  image: {{ include "llmrank.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["seed"]
  env:
    {{- include "llmrank.envAs" (dict "root" . "login" "owner") | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/llmrank
      readOnly: true
  securityContext:
    {{- include "llmrank.containerSecurity" . | nindent 4 }}
  resources:
    requests: { cpu: 50m, memory: 32Mi }
    limits: { memory: 128Mi }
{{- end -}}
