{{/* Names, labels and the pieces several templates share. */}}

{{- define "raft-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "raft-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "raft-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "raft-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "raft-operator.labels" -}}
{{ include "raft-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: raft-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "raft-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "raft-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "raft-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The peering object's name: the one raft_operator.handlers configures for Kopf. */}}
{{- define "raft-operator.peeringName" -}}
raft-operator
{{- end -}}

{{/* true when the operator watches every namespace. */}}
{{- define "raft-operator.clusterwide" -}}
{{- if not .Values.watch.namespaces -}}true{{- end -}}
{{- end -}}

{{/*
The operator's command line. With peering, each replica needs its own priority (Kopf pauses
every operator when two live ones share a priority), so a shell derives it from the pod name.
*/}}
{{- define "raft-operator.flags" -}}
{{- if include "raft-operator.clusterwide" . }} --all-namespaces
{{- else }}{{ range .Values.watch.namespaces }} --namespace {{ . }}{{ end }}
{{- end }}
{{- if .Values.peering.enabled }} --peering {{ include "raft-operator.peeringName" . }}
{{- else }} --standalone
{{- end }} --liveness http://0.0.0.0:{{ .Values.health.port }}/healthz
{{- if .Values.operator.verbose }} --verbose{{ end }}
{{- if eq .Values.operator.logFormat "json" }} --log-format json{{ end }}
{{- end -}}

{{/* Checks across values that JSON Schema cannot express, with a message that says what to do. */}}
{{- define "raft-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) -}}
{{- fail "replicaCount > 1 needs peering.enabled=true: without peering every replica would reconcile the same RaftRuns" -}}
{{- end -}}
{{- if eq .Values.image.tag "latest" -}}
{{- fail "image.tag=latest is not a pinned version: set a release tag (empty uses the chart's appVersion) or image.digest" -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) -}}
{{- fail (printf "metrics.port and health.port must differ (both are %d)" (int .Values.health.port)) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled=true needs metrics.service.enabled=true: the ServiceMonitor scrapes that Service" -}}
{{- end -}}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) -}}
{{- fail "serviceAccount.create=false needs serviceAccount.name: the existing ServiceAccount the operator runs as" -}}
{{- end -}}
{{- end -}}

{{- /* A map of labels as "k=v,k2=v2" (the operator's RAFT_*_POD_LABELS settings). */ -}}
{{- define "raft-operator.labelPairs" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
