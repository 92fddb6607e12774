#!/usr/bin/env bash
# Backs up the database of backend-event (docs/operations.md, "Backup and restore").
#
#   DATABASE_URL=postgres://user@host:5432/db scripts/backup.sh [--dir DIR] [--keep N]
#   DATABASE_URL=sqlite://data/backend-event.db scripts/backup.sh [--dir DIR] [--keep N]
#
# PostgreSQL: pg_dump of the schema (DB_SCHEMA, default event) in the custom format
#   (compressed; pg_restore can restore it in parallel) into DIR/event_<UTC time>.dump.
#   pg_dump must be at least the server's major version (checked).
# SQLite: an online copy (VACUUM INTO, through the service binary: BACKEND_EVENT_BIN, default
#   `backend-event` on PATH) into DIR/event_<UTC time>.sqlite; the service may keep running.
# Beside each backup: <file>.sha256 (sha256sum format), which scripts/restore.sh verifies.
# Retention: only the N newest backups of DIR are kept (default 14; 0 keeps all).
# Prints the path of the new backup on stdout.
set -euo pipefail

dir=./backups
keep=14
while (($#)); do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$keep" =~ ^[0-9]+$ ]] || { echo "--keep: not a number: $keep" >&2; exit 2; }
url=${DATABASE_URL:?set DATABASE_URL to the database to back up}
schema=${DB_SCHEMA:-event}
bin=${BACKEND_EVENT_BIN:-backend-event}
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%S%NZ)

case "$url" in
  postgres://* | postgresql://*)
    command -v pg_dump >/dev/null || { echo "pg_dump is not installed" >&2; exit 1; }
    server=$(psql "$url" -XAtqc "SHOW server_version_num")
    client=$(pg_dump --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
    if ((client < server / 10000)); then
      echo "pg_dump $client is older than the server ($((server / 10000))): install a matching client" >&2
      exit 1
    fi
    file="$dir/event_$stamp.dump"
    pg_dump --format=custom --schema="$schema" --no-owner --no-privileges \
      --file="$file.partial" "$url"
    ;;
  sqlite:*)
    file="$dir/event_$stamp.sqlite"
    DATABASE_URL="$url" "$bin" backup --to "$file.partial" >/dev/null
    ;;
  *)
    echo "DATABASE_URL must be postgres://… or sqlite://…" >&2
    exit 2
    ;;
esac
# Complete files only get their final name (and a checksum).
mv "$file.partial" "$file"
(cd "$dir" && sha256sum "$(basename "$file")" >"$(basename "$file").sha256")

if ((keep > 0)); then
  # The names sort by time; keep the newest $keep, remove the rest with their checksums.
  mapfile -t old < <(find "$dir" -maxdepth 1 -name 'event_*' ! -name '*.sha256' ! -name '*.partial' \
    -printf '%f\n' | sort -r | tail -n +$((keep + 1)))
  for name in "${old[@]}"; do
    rm -f "$dir/$name" "$dir/$name.sha256"
  done
fi
echo "$file"
