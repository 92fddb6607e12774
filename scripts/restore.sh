#!/usr/bin/env bash
# Restores a backup of scripts/backup.sh into a fresh database (docs/operations.md, "Backup
# and restore"), then prints `backend-event migrate status` for it.
#
#   scripts/restore.sh FILE TARGET_URL
#
# FILE: event_<time>.dump (PostgreSQL) or event_<time>.sqlite, with FILE.sha256 beside it;
#   a missing or wrong checksum refuses the restore.
# TARGET_URL: postgres://user@host:5432/newdb — created when it does not exist; refused when
#   it already has the schema (DB_SCHEMA, default event): restore into a fresh database and
#   point the service at it. sqlite://path — refused when the file exists.
# pg_restore runs RESTORE_JOBS (default 4) jobs in parallel. BACKEND_EVENT_BIN is the service
# binary (default `backend-event` on PATH).
set -euo pipefail

if (($# != 2)); then sed -n '2,14p' "$0"; exit 2; fi
file=$1
target=$2
schema=${DB_SCHEMA:-event}
bin=${BACKEND_EVENT_BIN:-backend-event}
jobs=${RESTORE_JOBS:-4}

[[ -f "$file" ]] || { echo "no backup at $file" >&2; exit 1; }
[[ -f "$file.sha256" ]] || { echo "no checksum at $file.sha256: refusing to restore" >&2; exit 1; }
if ! (cd "$(dirname "$file")" && sha256sum --check --status "$(basename "$file").sha256"); then
  echo "checksum mismatch for $file: refusing to restore" >&2
  exit 1
fi
echo "checksum ok: $file" >&2

started=$(date +%s%N)
case "$target" in
  postgres://* | postgresql://*)
    command -v pg_restore >/dev/null || { echo "pg_restore is not installed" >&2; exit 1; }
    # The maintenance database of the same server, to create the target.
    name=${target##*/}
    name=${name%%\?*}
    maintenance="${target%/*}/postgres"
    [[ "$target" == *\?* ]] && maintenance="$maintenance?${target#*\?}"
    exists=$(psql "$maintenance" -XAtqc "SELECT 1 FROM pg_database WHERE datname = '$name'")
    if [[ -z "$exists" ]]; then
      psql "$maintenance" -Xqc "CREATE DATABASE \"$name\"" >/dev/null
      echo "created database $name" >&2
    fi
    taken=$(psql "$target" -XAtqc "SELECT 1 FROM pg_namespace WHERE nspname = '$schema'")
    if [[ -n "$taken" ]]; then
      echo "database $name already has schema $schema: restore into a fresh database" >&2
      exit 1
    fi
    pg_restore --exit-on-error --no-owner --no-privileges --jobs="$jobs" --dbname="$target" "$file"
    where="database $name"
    ;;
  sqlite:*)
    path=${target#sqlite://}
    path=${path#sqlite:}
    path=${path%%\?*}
    if [[ -e "$path" ]]; then
      echo "$path already exists: restore into a new file" >&2
      exit 1
    fi
    mkdir -p "$(dirname "$path")"
    cp "$file" "$path.partial"
    mv "$path.partial" "$path"
    where=$path
    ;;
  *)
    echo "TARGET_URL must be postgres://… or sqlite://…" >&2
    exit 2
    ;;
esac
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
echo "restored $file into $where in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s" >&2

# What the service will find: pending migrations (a backup of an older version) are applied
# by `migrate up` or at start.
DATABASE_URL="$target" "$bin" migrate status
