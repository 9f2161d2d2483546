#!/usr/bin/env bash
# Makes sure a Docker engine answers, starting the local daemon if this
# machine has one installed but stopped.
set -euo pipefail

if docker info >/dev/null 2>&1; then exit 0; fi

echo "==> the Docker engine is not answering; starting it"
if command -v service >/dev/null 2>&1 && service docker start >/dev/null 2>&1; then
  :
elif command -v dockerd >/dev/null 2>&1; then
  nohup dockerd >/tmp/shoal-dockerd.log 2>&1 &
else
  echo "ensure-docker: no Docker engine here: install docker.io (apt-get install docker.io) and try again" >&2
  exit 1
fi
for _ in $(seq 1 30); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "ensure-docker: the Docker engine did not start within 30 s (see /tmp/shoal-dockerd.log)" >&2
exit 1
