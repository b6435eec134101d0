#!/usr/bin/env bash
# Start or update the mlops stack on its EC2 instance: release.sh [TAG]
#
# Run as root by the user data at first boot (TAG from the stack's image-tag parameter) and by
# `scripts/deploy --release TAG` through SSM Run Command. Steps: check out the repository at TAG
# (compose file and proxy config matching the images), mount the data volume, make a self-signed
# certificate if none is there, write the compose env file with the tokens from SSM, pull, start
# the production profile, wait until the API answers through the proxy.
#
# It handles the API tokens: no `set -x`, no echo of a value; the env file is 0600 root.
set -euo pipefail
set +x
umask 077

CONFIG_DIR=${MLOPS_CONFIG_DIR:-/etc/mlops}
# Written by the user data: AWS_REGION, REGISTRY, *_PARAMETER names, PUBLIC_HOST, PUBLIC_IP,
# DATA_DEVICE, DATA_DIR.
# shellcheck source=/dev/null
. "$CONFIG_DIR/stack.env"
REPO_DIR=${REPO_DIR:-/opt/mlops}
ENV_FILE=$CONFIG_DIR/compose.env
export AWS_REGION AWS_DEFAULT_REGION=$AWS_REGION
export HOME=${HOME:-/root} # SSM Run Command starts without one; git and docker want it

log() { printf 'release: %s\n' "$*"; }
die() {
    printf 'release: %s\n' "$*" >&2
    exit 1
}
parameter() { aws ssm get-parameter --name "$1" --query Parameter.Value --output text; }
secret() { aws ssm get-parameter --with-decryption --name "$1" --query Parameter.Value --output text; }

tag=${1:-$(parameter "$IMAGE_TAG_PARAMETER")}
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid image tag: $tag"

# 1. The checkout matching the images (the tag is a commit prefix in Jenkins), then go on with
#    that checkout's version of this script.
if [ "${MLOPS_RELEASE_CHECKED_OUT:-}" != "$tag" ]; then
    git -C "$REPO_DIR" fetch --quiet --tags origin
    if git -C "$REPO_DIR" rev-parse --verify --quiet "$tag^{commit}" >/dev/null; then
        git -C "$REPO_DIR" checkout --quiet --detach "$tag"
    else
        git -C "$REPO_DIR" checkout --quiet --detach origin/HEAD
    fi
    log "repository at $(git -C "$REPO_DIR" rev-parse --short HEAD)"
    MLOPS_RELEASE_CHECKED_OUT=$tag exec "$REPO_DIR/deploy/aws/release.sh" "$tag"
fi

# 2. The data volume (its own EBS volume, snapshotted): formatted only when blank.
if ! mountpoint -q "$DATA_DIR"; then
    for _ in $(seq 60); do
        [ -e "$DATA_DEVICE" ] && break
        sleep 5
    done
    [ -e "$DATA_DEVICE" ] || die "data volume $DATA_DEVICE is not attached"
    device=$(readlink -f "$DATA_DEVICE")
    if ! blkid "$device" >/dev/null 2>&1; then
        log "formatting the new data volume $device"
        mkfs.xfs -q -L mlops-data "$device"
    fi
    uuid=$(blkid -s UUID -o value "$device")
    install -d -m 0755 "$DATA_DIR"
    grep -q "UUID=$uuid " /etc/fstab || echo "UUID=$uuid $DATA_DIR xfs defaults,nofail 0 2" >>/etc/fstab
    mount "$DATA_DIR"
fi
install -d -m 0750 -o 10001 -g 10001 "$DATA_DIR/api-data"
install -d -m 0700 "$DATA_DIR/tls"

# 3. TLS: a certificate put in $DATA_DIR/tls by an operator is used as it is; otherwise a
#    self-signed one for the public name. Clients pin it through the stack's tls-cert parameter.
cert=$DATA_DIR/tls/cert.pem
key=$DATA_DIR/tls/key.pem
if [ ! -s "$cert" ] || [ ! -s "$key" ]; then
    log "making a self-signed certificate for $PUBLIC_HOST"
    names=("$PUBLIC_HOST")
    [ "$PUBLIC_IP" = "$PUBLIC_HOST" ] || names+=("$PUBLIC_IP")
    "$REPO_DIR/deploy/nginx/selfsigned-cert" "$cert" "$key" "${names[@]}"
fi
if [ "$(openssl x509 -in "$cert" -noout -subject_hash -issuer_hash | uniq | wc -l)" = 1 ]; then
    published=file://$cert # self-signed: clients pin this very certificate
else
    published=ca-signed # clients use their usual trust store
fi
aws ssm put-parameter --name "$TLS_CERT_PARAMETER" --type String --overwrite \
    --value "$published" >/dev/null

# 4. The compose env file: tokens from SSM SecureStrings, never on a command line or in a log.
admin_token=$(secret "$ADMIN_TOKEN_PARAMETER")
feedback_token=$(secret "$FEEDBACK_TOKEN_PARAMETER")
for name in admin_token feedback_token; do
    [[ ${!name} =~ ^[A-Za-z0-9_.~+/=-]{16,512}$ ]] || die "$name from SSM is not a usable token"
done
# Grafana's admin password (compose requires one): made once on the instance and kept there,
# root-only; read it over SSM (`sudo cat /etc/mlops/grafana-admin-password`). Grafana listens
# on the instance's loopback only: reach it through an SSM or SSH port forward.
grafana_file=$CONFIG_DIR/grafana-admin-password
if [[ ! -s $grafana_file ]]; then
    head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$grafana_file"
fi
chmod 0600 "$grafana_file"
grafana_password=$(<"$grafana_file")
tmp=$(mktemp "$CONFIG_DIR/.compose.env.XXXXXX")
{
    printf 'REGISTRY=%s\nTAG=%s\n' "$REGISTRY" "$tag"
    printf 'PROMETHEUS_BIND=0.0.0.0\nAPI_DATA=%s\n' "$DATA_DIR/api-data"
    printf 'TLS_CERT_FILE=%s\nTLS_KEY_FILE=%s\n' "$cert" "$key"
    printf 'MLOPS_ADMIN_TOKEN=%s\nMLOPS_FEEDBACK_TOKEN=%s\n' "$admin_token" "$feedback_token"
    printf 'MLOPS_GRAFANA_ADMIN_PASSWORD=%s\n' "$grafana_password"
} >"$tmp"
unset admin_token feedback_token grafana_password
chmod 0600 "$tmp"
mv -f "$tmp" "$ENV_FILE"

# 5. Pull and (re)start; containers whose image or environment changed are recreated.
cd "$REPO_DIR"
compose=(docker compose --env-file "$ENV_FILE" --profile production)
"${compose[@]}" pull --quiet
"${compose[@]}" up -d --no-build --remove-orphans

for _ in $(seq 120); do
    if curl -fsS -k -o /dev/null https://127.0.0.1:8443/ready; then
        log "release $tag is up"
        "${compose[@]}" ps --format 'table {{.Service}}\t{{.Status}}'
        exit 0
    fi
    sleep 5
done
"${compose[@]}" ps
die "the API did not become ready through the proxy within 10 minutes"
