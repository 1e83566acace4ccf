#!/usr/bin/env bash
# Writes the secrets of the compose deployment into docs/deploy/secrets/ (git-ignored), the first
# signing key among them, and docs/deploy/.env (the compose project name).
#
#   docs/deploy/init-secrets.sh            # once, before the first `docker compose up`
#
# Existing files are kept (re-running never rotates anything): delete a file to regenerate it.
# The signing key is made with `kisum keys generate`: from PATH, else the `kisum:local` image
# (build it first: docker build -f docs/deploy/Dockerfile -t kisum:local .).
#
# This is a local set-up: the files are readable inside the containers (which run as uid 10001
# and, for PostgreSQL, uid 999), and only the secrets/ directory itself (0700) keeps other host
# users out. In production, keep secrets in your orchestrator's secret store (see k8s/).
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets/signing-keys
chmod 0700 secrets

rand() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# secret NAME VALUE: writes VALUE to secrets/NAME unless the file exists; prints the content.
secret() {
    if [[ -s "secrets/$1" ]]; then
        echo "kept    secrets/$1" >&2
    else
        printf '%s\n' "$2" >"secrets/$1"
        echo "wrote   secrets/$1" >&2
    fi
    chmod 0644 "secrets/$1"
    head -n1 "secrets/$1"
}

secret postgres_password "$(rand)" >/dev/null
for component in auth core finance; do
    secret "${component}_database_url" \
        "postgres://kisum_${component}:$(rand)@postgres:5432/kisum_${component}" >/dev/null
done
redis_password=$(secret redis_password "$(rand)")
secret redis_url "redis://:${redis_password}@redis:6379/0" >/dev/null

# Service keys. Each caller presents its own secret; each listener accepts a named list.
#   Auth -> Core     auth_client_key     (accepted by Core as `auth`)
#   finance -> Auth  finance_client_key  (accepted by Auth as `finance`)
#   operators        ops_key             (accepted by both as `ops`: audit, Core's admin API)
auth_key=$(secret auth_client_key "$(rand)")
finance_key=$(secret finance_client_key "$(rand)")
ops_key=$(secret ops_key "$(rand)")
secret auth_internal_api_keys "finance:${finance_key},ops:${ops_key}" >/dev/null
secret core_internal_api_keys "auth:${auth_key},ops:${ops_key}" >/dev/null

# The signing key.
shopt -s nullglob
pems=(secrets/signing-keys/*.pem)
if ((${#pems[@]} == 0)); then
    if command -v kisum >/dev/null 2>&1; then
        kid=$(kisum keys generate --alg ES256 --dir secrets/signing-keys)
    else
        kid=$(docker run --rm --user "$(id -u):$(id -g)" \
            -v "$PWD/secrets/signing-keys:/keys" "${KISUM_IMAGE:-kisum:local}" \
            keys generate --alg ES256 --dir /keys)
    fi
    echo "wrote   secrets/signing-keys/${kid}.pem"
else
    echo "kept    ${pems[0]}"
fi
chmod 0755 secrets/signing-keys
chmod 0644 secrets/signing-keys/*.pem

# .env: read by compose from this directory for the project name.
env_line() {
    if [[ -f .env ]] && grep -q "^$1=" .env; then
        echo "kept    .env $(grep "^$1=" .env)"
    else
        printf '%s=%s\n' "$1" "$2" >>.env
        echo "wrote   .env $1=$2"
    fi
}
env_line COMPOSE_PROJECT_NAME kisum
