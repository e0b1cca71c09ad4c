{{/*
`smart-autoscaler doctor` as the chart runs it (the helm test hook and the optional init
container): the daemon's configuration, provider and Lease, under the daemon's ServiceAccount,
so it proves exactly the access the daemon will have.
*/}}
{{- define "smart-autoscaler.doctorContainer" -}}
image: {{ include "smart-autoscaler.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args:
  - doctor
  - --config
  - {{ include "smart-autoscaler.configPath" . }}
  - --provider
  - {{ .Values.provider | quote }}
  {{- if .Values.leaderElection.enabled }}
  - --lease-name
  - {{ include "smart-autoscaler.leaseName" . | quote }}
  {{- else }}
  - --no-leader-elect
  {{- end }}
env:
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: {{ include "smart-autoscaler.configDir" . }}
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- end }}
