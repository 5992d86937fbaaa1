{{/* Chart name, truncated to the 63 characters Kubernetes allows in names. */}}
{{- define "otel-cost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless it already contains it. */}}
{{- define "otel-cost.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "otel-cost.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "otel-cost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "otel-cost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otel-cost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels kube-prometheus-stack's Prometheus selects ServiceMonitors and rules by. */}}
{{- define "otel-cost.prometheusLabels" -}}
release: {{ .Values.prometheus.release | quote }}
{{- with .Values.prometheus.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "otel-cost.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "otel-cost.grafanaNamespace" -}}
{{ .Values.grafana.namespace | default .Release.Namespace }}
{{- end }}

{{- define "otel-cost.clickhouseSecret" -}}
{{ .Values.clickhouse.existingSecret | default (printf "%s-clickhouse" (include "otel-cost.fullname" .)) }}
{{- end }}

{{- define "otel-cost.tokenSecret" -}}
{{ .Values.serve.existingTokenSecret | default (printf "%s-api-token" (include "otel-cost.fullname" .)) }}
{{- end }}

{{- define "otel-cost.tokenSecretKey" -}}
{{ if .Values.serve.existingTokenSecret }}{{ .Values.serve.existingTokenSecretKey }}{{ else }}api-token{{ end }}
{{- end }}

{{/*
Environment shared by the serve pods and the migration job. The DSN is built
from the URL with the user and password of the ClickHouse Secret; Kubernetes
expands $(VAR) references to variables defined earlier in the list.
NOTE: a password with URL-reserved characters (@ : / ?) must be given
percent-encoded, because it is placed into the DSN as it is.
*/}}
{{- define "otel-cost.storeEnv" -}}
- name: CLICKHOUSE_USER
  value: {{ .Values.clickhouse.username | quote }}
- name: CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "otel-cost.clickhouseSecret" . }}
      key: {{ .Values.clickhouse.existingSecretPasswordKey }}
- name: OTEL_COST_CLICKHOUSE_URL
  value: {{ regexReplaceAll "^(https?://)" .Values.clickhouse.url "${1}$(CLICKHOUSE_USER):$(CLICKHOUSE_PASSWORD)@" | quote }}
- name: OTEL_COST_CLICKHOUSE_DATABASE
  value: {{ .Values.clickhouse.database | quote }}
{{- with .Values.clickhouse.storagePolicy }}
- name: OTEL_COST_CLICKHOUSE_STORAGE_POLICY
  value: {{ . | quote }}
{{- end }}
{{- with .Values.clickhouse.cluster }}
- name: OTEL_COST_CLICKHOUSE_CLUSTER
  value: {{ . | quote }}
{{- end }}
- name: OTEL_COST_DATA_DIR
  value: /var/lib/otel-cost
{{- end }}
