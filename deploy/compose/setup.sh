#!/usr/bin/env bash
# The compose stack's one-shot setup, run by the iace-setup service before
# iace starts: it migrates the database and creates the demo organization
# with its first admin (iace user create). PostgreSQL starts empty, unlike
# the embedded store, which seeds the demo organization itself; iace then
# imports the demo agent into it (--agents-file). On later starts the admin
# exists and this says so.
set -euo pipefail
email=${ADMIN_EMAIL:?ADMIN_EMAIL is unset}
if [ "${IACE_USER_PASSWORD:-}" = "dev-only passphrase, change me" ]; then
  echo "setup: ADMIN_PASSWORD is the development default; set your own in deploy/compose/.env" >&2
fi
if out=$(iace user create --org demo --org-name Demo --email "$email" 2>&1); then
  echo "$out"
  exit 0
fi
case $out in
  *conflict*) echo "setup: admin $email exists already" ;;
  *) echo "$out" >&2; exit 1 ;;
esac
