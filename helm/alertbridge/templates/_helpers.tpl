{{/* The chart name, overridable. */}}
{{- define "alertbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The fully qualified app name: the release name, with the chart name unless it contains it. */}}
{{- define "alertbridge.fullname" -}}
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

{{- define "alertbridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "alertbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alertbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "alertbridge.labels" -}}
helm.sh/chart: {{ include "alertbridge.chart" . }}
{{ include "alertbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: alertbridge
{{- end }}

{{- define "alertbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "alertbridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the container's environment comes from: the user's or the chart's. */}}
{{- define "alertbridge.secretName" -}}
{{- default (include "alertbridge.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "alertbridge.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Where the chart mounts the bridge's files. The config ConfigMap is mounted as a directory of its
own, never with subPath: the kubelet refreshes a directory mount when the ConfigMap changes (so
POST /-/reload sees the edit), but never a subPath one. So the config path differs from the
image's default (/etc/alertbridge/config.yaml, kept for `docker run`), and the container's args
name it.
*/}}
{{- define "alertbridge.configDir" -}}/etc/alertbridge/config{{- end }}
{{- define "alertbridge.configPath" -}}/etc/alertbridge/config/config.yaml{{- end }}
{{- define "alertbridge.rulesDir" -}}/etc/alertbridge/rules{{- end }}
{{- define "alertbridge.templatesDir" -}}/etc/alertbridge/templates{{- end }}

{{/* The in-cluster base URL of the Service. */}}
{{- define "alertbridge.serviceURL" -}}
{{- printf "http://%s.%s.svc:%d" (include "alertbridge.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}

{{/*
Refuse values that would deploy a bridge that cannot work: the checks run at render time, so
`helm lint`, `helm template` and `helm install` all report them.
*/}}
{{- define "alertbridge.validate" -}}
{{- if not .Values.image.repository }}
{{- fail "image.repository is not set: set image.repository to the image you built: see docs/deploy.md (no image is published for this chart)" }}
{{- end }}
{{- $config := .Values.config | default dict }}
{{- $server := get $config "server" | default dict }}
{{- $store := get $config "store" | default dict }}
{{- $backend := get $store "backend" | default "sqlite" }}
{{- if and .Values.prometheusRule.enabled (not .Values.serviceMonitor.enabled) (not .Values.prometheusRule.job) }}
{{- fail "prometheusRule.enabled without serviceMonitor.enabled: set prometheusRule.job to the job label your Prometheus gives alertbridge, or enable the ServiceMonitor (otherwise AlertbridgeDown fires forever and the other alerts watch a job that does not exist)" }}
{{- end }}
{{- if eq $backend "redis" }}
{{- fail "config.store.backend is redis, which this version of alertbridge does not have yet: use sqlite (the default, with persistence) and replicaCount 1" }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount is %d but config.store.backend is %s: the %s store lives in one pod, so several replicas would each send every alert; run one replica (a shared backend is not available yet)" (int .Values.replicaCount) $backend $backend) }}
{{- end }}
{{- $listen := get $server "listen" | default "0.0.0.0:8080" | toString }}
{{- $port := regexFind "[0-9]+$" $listen }}
{{- if ne $port (int .Values.containerPort | toString) }}
{{- fail (printf "config.server.listen (%s) must use containerPort (%d): the probes, the Service and the NetworkPolicy point at containerPort" $listen (int .Values.containerPort)) }}
{{- end }}
{{- if eq $backend "sqlite" }}
{{- $path := get $store "path" | default "./alertbridge.db" | toString }}
{{- if not (hasPrefix (printf "%s/" (trimSuffix "/" .Values.persistence.mountPath)) $path) }}
{{- fail (printf "config.store.path (%s) must be inside persistence.mountPath (%s), or the SQLite outbox is written to the read-only root filesystem" $path .Values.persistence.mountPath) }}
{{- end }}
{{- end }}
{{- if .Values.rules }}
{{- $ruleGlob := printf "%s/*.yaml" (include "alertbridge.rulesDir" .) }}
{{- if not (has $ruleGlob (get $config "rule_files" | default list)) }}
{{- fail (printf "rules are set but config.rule_files does not list %s, so the bridge would not read them" $ruleGlob) }}
{{- end }}
{{- range $name, $_ := .Values.rules }}
{{- if not (hasSuffix ".yaml" $name) }}
{{- fail (printf "rules.%s: rule file names end in .yaml (config.rule_files reads *.yaml)" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.templates }}
{{- $templates := get $config "templates" | default dict }}
{{- if ne (get $templates "directory" | default "") (include "alertbridge.templatesDir" .) }}
{{- fail (printf "templates are set but config.templates.directory is not %s, so the bridge would not read them" (include "alertbridge.templatesDir" .)) }}
{{- end }}
{{- end }}
{{- end }}
