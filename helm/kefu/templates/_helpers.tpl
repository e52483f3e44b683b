{{/* Names, labels, the image, and what every service's pods share. */}}

{{- define "kefu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kefu.fullname" -}}
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

{{/* The name of one service's objects: <fullname>-<service>. Takes (dict "root" $ "name" $name). */}}
{{- define "kefu.serviceName" -}}
{{- printf "%s-%s" (include "kefu.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kefu.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one service's pods. Takes (dict "root" $ "name" $name). */}}
{{- define "kefu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kefu.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Standard labels. Takes (dict "root" $ "name" $name). */}}
{{- define "kefu.labels" -}}
helm.sh/chart: {{ include "kefu.chart" .root }}
{{ include "kefu.selectorLabels" . }}
app.kubernetes.io/part-of: kefu
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Labels of objects that belong to the release, not to one service. */}}
{{- define "kefu.releaseLabels" -}}
helm.sh/chart: {{ include "kefu.chart" . }}
app.kubernetes.io/name: {{ include "kefu.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: kefu
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kefu.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "kefu.secretName" -}}
{{- default (printf "%s-secrets" (include "kefu.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/*
What each service of this build is (its gRPC service, for health probes, and its settings
section) comes from services.json: what `kefu services --json` prints, kept in step with the
binary by helm/tests/check_chart.py. Each takes (dict "root" $ "name" $name).
*/}}
{{- define "kefu.entry" -}}
{{- $name := .name -}}
{{- range (.root.Files.Get "services.json" | fromJson).services -}}
{{- if eq .name $name -}}{{- toJson . -}}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kefu.grpcService" -}}
{{- (include "kefu.entry" . | fromJson).grpcService -}}
{{- end -}}

{{- define "kefu.section" -}}
{{- (include "kefu.entry" . | fromJson).section -}}
{{- end -}}

{{/* The enabled services, sorted, comma-separated (what `kefu migrate --service` takes). */}}
{{- define "kefu.enabledServices" -}}
{{- $enabled := list -}}
{{- range $name, $svc := .Values.services -}}
{{- if $svc.enabled -}}{{- $enabled = append $enabled $name -}}{{- end -}}
{{- end -}}
{{- join "," (sortAlpha $enabled) -}}
{{- end -}}

{{/* Every service of this build (services.json), sorted, comma-separated. */}}
{{- define "kefu.builtServices" -}}
{{- $built := list -}}
{{- range (.Files.Get "services.json" | fromJson).services -}}
{{- $built = append $built .name -}}
{{- end -}}
{{- join "," (sortAlpha $built) -}}
{{- end -}}

{{/* Seconds a pod gets after SIGTERM: the NOT_SERVING delay, the drain, and 10 s to exit
(of which the event relays' last pass takes at most 5 s). */}}
{{- define "kefu.terminationGracePeriodSeconds" -}}
{{- add (div (add (int .Values.shutdown.shutdownDelayMs) (int .Values.shutdown.drainTimeoutMs) 999) 1000) 10 -}}
{{- end -}}

{{/* The tls section: the mounted certificate Secret (tls.crt, tls.key, ca.crt), when one is. */}}
{{- define "kefu.tlsSettings" -}}
{{- $tls := dict -}}
{{- if .Values.tls.secretName -}}
{{- $_ := set $tls "cert_file" "/etc/kefu-tls/tls.crt" -}}
{{- $_ := set $tls "key_file" "/etc/kefu-tls/tls.key" -}}
{{- $_ := set $tls "ca_file" "/etc/kefu-tls/ca.crt" -}}
{{- if .Values.tls.mutual -}}
{{- $_ := set $tls "client_ca_file" "/etc/kefu-tls/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- toJson $tls -}}
{{- end -}}

{{/* The redis section's file settings: its topology, and the CA of its TLS certificate when one is mounted. */}}
{{- define "kefu.redisSettings" -}}
{{- $redis := dict "mode" .Values.redis.mode "nodes" .Values.redis.nodes "sentinel_master" .Values.redis.sentinelMaster "replica_acks" (int .Values.redis.replicaAcks) -}}
{{- if and .Values.redis.enabled .Values.redis.tlsCaSecret.name -}}
{{- $_ := set $redis "tls_ca_file" (printf "/etc/kefu-redis-tls/%s" .Values.redis.tlsCaSecret.key) -}}
{{- end -}}
{{- toJson $redis -}}
{{- end -}}

{{/* The auth section: issuer and audience, and the provider's key set when one is mounted. */}}
{{- define "kefu.authSettings" -}}
{{- $auth := dict "issuer" .Values.auth.issuer "audience" .Values.auth.audience -}}
{{- if .Values.auth.jwks.configMap -}}
{{- $_ := set $auth "jwks_file" "/etc/kefu-jwks/jwks.json" -}}
{{- $_ := set $auth "jwks_issuer" (default "" .Values.auth.jwks.issuer) -}}
{{- end -}}
{{- toJson $auth -}}
{{- end -}}

{{/*
One service's settings file (JSON: Helm renders numbers in values as floats, which TOML would
print as 3000.0). The chart's own settings first, then `config`, then the service's `config`.
Takes (dict "root" $ "name" $name "svc" $svc).
*/}}
{{- define "kefu.settings" -}}
{{- $root := .root -}}
{{- $base := dict
  "server" (dict "shutdown_delay_ms" (int $root.Values.shutdown.shutdownDelayMs) "drain_timeout_ms" (int $root.Values.shutdown.drainTimeoutMs) "health_listen" (ternary (printf "0.0.0.0:%d" (int $root.Values.tls.healthPort)) "" (ne $root.Values.tls.secretName "")))
  "auth" (include "kefu.authSettings" $root | fromJson)
  "telemetry" (dict "log_format" "json" "log_filter" $root.Values.logFilter)
  "redis" (include "kefu.redisSettings" $root | fromJson)
  "tls" (include "kefu.tlsSettings" $root | fromJson)
  "security" (dict "pii_active_key" $root.Values.pii.activeKeyId) -}}
{{- range $peer, $peerSvc := $root.Values.services -}}
{{- if $peerSvc.enabled -}}
{{- $_ := set $base (include "kefu.section" (dict "root" $root "name" $peer)) (dict "endpoint" (printf "%s://%s:%d" (ternary "https" "http" (ne $root.Values.tls.secretName "")) (include "kefu.serviceName" (dict "root" $root "name" $peer)) (int $peerSvc.port))) -}}
{{- end -}}
{{- end -}}
{{- $own := get $base (include "kefu.section" .) -}}
{{- $_ := set $own "listen" (printf "0.0.0.0:%d" (int .svc.port)) -}}
{{- $merged := mustMergeOverwrite $base (deepCopy (default (dict) $root.Values.config)) (deepCopy (default (dict) .svc.config)) -}}
{{- toPrettyJson $merged -}}
{{- end -}}

{{/*
Environment of a kefu container: secrets by reference, never by value. Takes
(dict "root" $ "services" (list of service names whose database URL it needs)).
*/}}
{{- define "kefu.env" -}}
{{- $root := .root -}}
{{- $secret := include "kefu.secretName" $root -}}
{{- $keys := $root.Values.secretKeys -}}
- name: KEFU_CONFIG
  value: /etc/kefu/kefu.json
- name: KEFU__AUTH__HS256_SECRET
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $keys.authSigningKey }}}
- name: KEFU__SECURITY__LOOKUP_KEY
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $keys.lookupKey }}}
{{- range $root.Values.pii.keyIds }}
- name: KEFU__SECURITY__PII_KEYS__{{ upper . }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ printf "%s%s" $keys.piiKeyPrefix . }}}
{{- end }}
{{- range (uniq (append $root.Values.pii.retiredKeyIds "dev1")) }}
# Retired: an empty key takes the id out of the keyring.
- name: KEFU__SECURITY__PII_KEYS__{{ upper . }}
  value: ""
{{- end }}
{{- if $root.Values.redis.enabled }}
- name: KEFU__REDIS__URL
  valueFrom:
    secretKeyRef: {name: {{ default $secret $root.Values.redis.urlSecret.name }}, key: {{ default $keys.redisUrl $root.Values.redis.urlSecret.key }}}
{{- end }}
{{- range .services }}
{{- include "kefu.databaseUrlEnv" (dict "root" $root "name" .) }}
{{- end }}
{{- if $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $root.Values.otel.endpoint | quote }}
{{- end }}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: NODE_NAME
  valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),k8s.node.name=$(NODE_NAME)%s" (ternary (printf ",%s" $root.Values.otel.resourceAttributes) "" (ne $root.Values.otel.resourceAttributes "")) | quote }}
{{- end -}}

{{/*
A service's database URL: from the service's own databaseUrlSecret (e.g. the Secret a
PostgreSQL operator makes), else from the shared Secret. Takes (dict "root" $ "name" $name).
*/}}
{{- define "kefu.databaseUrlEnv" -}}
{{- $ref := (index .root.Values.services .name).databaseUrlSecret | default (dict) }}
- name: KEFU__{{ include "kefu.section" . | upper }}__DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "kefu.secretName" .root) $ref.name }}
      key: {{ default (printf "%s%s" .name .root.Values.secretKeys.databaseUrlSuffix) $ref.key }}
{{- end -}}

{{/* Rules the schema cannot say; a broken rule stops the install with its reason. */}}
{{- define "kefu.validate" -}}
{{- if not (has .Values.pii.activeKeyId .Values.pii.keyIds) -}}
{{- fail (printf "pii.activeKeyId %q must be one of pii.keyIds %v" .Values.pii.activeKeyId .Values.pii.keyIds) -}}
{{- end -}}
{{- if has "dev1" .Values.pii.keyIds -}}
{{- fail "pii.keyIds: dev1 is the embedded development key's id and is always retired; name your keys otherwise" -}}
{{- end -}}
{{- range .Values.pii.keyIds -}}
{{- if has . $.Values.pii.retiredKeyIds -}}
{{- fail (printf "pii key id %q is both in keyIds and in retiredKeyIds" .) -}}
{{- end -}}
{{- end -}}
{{- if not (include "kefu.enabledServices" .) -}}
{{- fail "services: enable at least one service" -}}
{{- end -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc.enabled (not (include "kefu.entry" (dict "root" $ "name" $name))) -}}
{{- fail (printf "services.%s: not in this build of kefu (services.json lists what is)" $name) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.existingSecret -}}
{{- $v := .Values.secretValues -}}
{{- if lt (len $v.authSigningKey) 32 -}}
{{- fail "secretValues.authSigningKey: 32 characters or more (or name existingSecret)" -}}
{{- end -}}
{{- if not $v.lookupKey -}}
{{- fail "secretValues.lookupKey is required (or name existingSecret)" -}}
{{- end -}}
{{- range .Values.pii.keyIds -}}
{{- if not (hasKey $v.piiKeys .) -}}
{{- fail (printf "secretValues.piiKeys.%s is required: pii.keyIds lists it (or name existingSecret)" .) -}}
{{- end -}}
{{- end -}}
{{- if and $.Values.redis.enabled (not $v.redisUrl) (not $.Values.redis.urlSecret.name) -}}
{{- fail "secretValues.redisUrl is required while redis.enabled (or name existingSecret)" -}}
{{- end -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc.enabled (not (hasKey $v.databaseUrls $name)) (not ($svc.databaseUrlSecret | default (dict)).name) -}}
{{- fail (printf "secretValues.databaseUrls.%s is required: the service is enabled (or name existingSecret)" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod-level settings every kefu pod shares. */}}
{{- define "kefu.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
