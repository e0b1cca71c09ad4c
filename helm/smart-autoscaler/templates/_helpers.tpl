{{/* Chart name, truncated to 63 characters (the DNS label limit). */}}
{{- define "smart-autoscaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, with the chart name appended unless the release
name already contains it.
*/}}
{{- define "smart-autoscaler.fullname" -}}
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

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "smart-autoscaler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "smart-autoscaler.labels" -}}
helm.sh/chart: {{ include "smart-autoscaler.chart" . }}
{{ include "smart-autoscaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: node-autoscaler
{{- end }}

{{/* Selector labels. */}}
{{- define "smart-autoscaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smart-autoscaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the daemon runs as. */}}
{{- define "smart-autoscaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smart-autoscaler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image. One image per cloud (Dockerfile, build ARG CLOUD): unless image.tag is set,
a cloud provider gets <appVersion>-<cloud> (only its SDK) and anything else <appVersion> (every SDK).
*/}}
{{- define "smart-autoscaler.image" -}}
{{- $provider := .Values.provider | toString }}
{{- $default := ternary (printf "%s-%s" .Chart.AppVersion $provider) .Chart.AppVersion (has $provider (list "aws" "gcp" "azure" "oci")) }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default $default | toString) }}
{{- end }}

{{/* The leader-election Lease name (--lease-name). */}}
{{- define "smart-autoscaler.leaseName" -}}
{{- .Values.leaderElection.leaseName | default "smart-autoscaler" }}
{{- end }}

{{/* Where the ConfigMap's config.yaml is mounted, and the file the daemon reads. */}}
{{- define "smart-autoscaler.configDir" -}}/etc/smart-autoscaler{{- end }}
{{- define "smart-autoscaler.configPath" -}}{{ include "smart-autoscaler.configDir" . }}/config.yaml{{- end }}

{{/*
Checks that stop a bad install before it reaches the cluster (the daemon validates every
option again at start).
*/}}
{{- define "smart-autoscaler.validate" -}}
{{- $provider := .Values.provider | toString }}
{{- if not $provider }}
{{- fail "provider must be set: aws, gcp, azure, oci, simulated or a plugin name" }}
{{- end }}
{{- $cloud := (.Values.config | default dict).cloud | default "aws" | toString }}
{{- if and (has $provider (list "aws" "gcp" "azure" "oci")) (ne $provider $cloud) }}
{{- fail (printf "provider %q launches instances in %s, but config.cloud is %q (prices and sizes come from it): set config.cloud=%s" $provider $provider $cloud $provider) }}
{{- end }}
{{- $config := .Values.config | default dict }}
{{- if not $config.clusterName }}
{{- fail "config.clusterName is required: a name unique among the clusters sharing the cloud account (every instance launched is tagged with it, so the autoscaler adopts its own nodes and never another cluster's), e.g. --set config.clusterName=prod-eu-1" }}
{{- end }}
{{- if not $config.region }}
{{- $examples := dict "aws" "us-east-1" "gcp" "us-central1" "azure" "eastus" "oci" "us-ashburn-1" }}
{{- fail (printf "config.region is required: the %s region the cluster runs in, e.g. --set config.region=%s" $cloud (get $examples $cloud | default "us-east-1")) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: two replicas must never act at once" }}
{{- end }}
{{- if not (has (.Values.podAntiAffinity | default "none" | toString) (list "soft" "hard" "none")) }}
{{- fail (printf "podAntiAffinity must be soft, hard or none, not %q" (.Values.podAntiAffinity | toString)) }}
{{- end }}
{{- end }}
