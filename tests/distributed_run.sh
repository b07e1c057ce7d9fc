#!/usr/bin/env bash
# ComfyUI-Distributed end to end: workflows/distributed_text2music.json on a master and one local worker,
# two real ComfyUI servers on the CPU (127.0.0.1 only), queued through the master's /distributed/queue.
#
#   bash tests/distributed_run.sh
#
# Sets up, in a temporary folder, two ComfyUI base directories (master, worker), each with
#   custom_nodes/acestep-v1          -> this repository (a symlink; ComfyUI loads it as a pack)
#   custom_nodes/ComfyUI-Distributed    the unmodified ComfyUI-Distributed source (../shared/comfyui), unpacked
#   models/acestep/ACE-Step-v1-3.5B  -> the tiny golden checkpoint
# then runs tests/distributed/run_distributed.py with ComfyUI's venv (see its docstring for the checks).
# Both servers are always stopped and the folder removed at the end (KEEP_WORK=1 keeps it for the logs).
#
# Environment: ACESTEP_SHARED (default ../shared beside the repository), COMFY_DIR (/tmp/comfyui),
# COMFY_VENV (/tmp/comfy-venv), DISTRIBUTED_MASTER_PORT (8288), DISTRIBUTED_WORKER_PORT (8289),
# DISTRIBUTED_TIMEOUT (whole run, seconds; default 1500). Exits non-zero on any failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${ACESTEP_SHARED:-$ROOT/../shared}"
SHARED="$(cd "$SHARED" && pwd)" || { echo "distributed_run: shared folder not found" >&2; exit 2; }
export ACESTEP_SHARED="$SHARED"
export COMFY_DIR="${COMFY_DIR:-/tmp/comfyui}"
COMFY_VENV="${COMFY_VENV:-/tmp/comfy-venv}"
MASTER_PORT="${DISTRIBUTED_MASTER_PORT:-8288}"
WORKER_PORT="${DISTRIBUTED_WORKER_PORT:-8289}"
TIMEOUT="${DISTRIBUTED_TIMEOUT:-1500}"
TARBALL=$(ls "$SHARED"/comfyui/ComfyUI-Distributed-*.tar.gz 2>/dev/null | head -n 1)

die() { echo "distributed_run: ERROR: $*" >&2; exit 2; }
[[ -f "$COMFY_DIR/main.py" ]] || die "ComfyUI not found at $COMFY_DIR (run $SHARED/comfyui/setup_comfyui.sh)"
[[ -x "$COMFY_VENV/bin/python" ]] || die "ComfyUI's venv not found at $COMFY_VENV"
[[ -n "$TARBALL" ]] || die "no ComfyUI-Distributed-*.tar.gz in $SHARED/comfyui"
for port in "$MASTER_PORT" "$WORKER_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is busy"; fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/acestep-distributed-XXXXXX")"
cleanup() {
  # the driver stops its servers itself; this is the backstop if it was killed (by the timeout, say)
  for role in master worker; do
    if [[ -f "$WORK/$role.pid" ]]; then
      pid=$(cat "$WORK/$role.pid")
      kill -TERM -- "-$pid" 2>/dev/null && sleep 3
      kill -KILL -- "-$pid" 2>/dev/null
    fi
  done
  if [[ "${KEEP_WORK:-0}" == "1" ]]; then echo "distributed_run: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "== distributed_run: set-up in $WORK"
"$COMFY_VENV/bin/python" -m pip install -q -c "$SHARED/comfyui/pack_constraints.txt" -r "$ROOT/requirements.txt" 2>&1 \
  | grep -v "is ignored: it is neither" || true
ckpt=$("$COMFY_VENV/bin/python" "$SHARED/golden/materialize_tiny_ckpt.py") || die "materialize_tiny_ckpt.py failed"
[[ -d "$ckpt" ]] || die "materialize_tiny_ckpt.py printed no folder ($ckpt)"
mkdir -p "$WORK/src" && tar -xzf "$TARBALL" -C "$WORK/src" || die "could not unpack $TARBALL"
DIST_SRC=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[[ -f "$DIST_SRC/__init__.py" ]] || die "no pack folder in $TARBALL"
for role in master worker; do
  base="$WORK/$role"
  mkdir -p "$base/custom_nodes" "$base/models/acestep" "$base/input" "$base/output" "$base/user/default"
  ln -s "$ROOT" "$base/custom_nodes/acestep-v1"
  cp -r "$DIST_SRC" "$base/custom_nodes/ComfyUI-Distributed"  # each instance writes its own gpu_config.json
  ln -s "$ckpt" "$base/models/acestep/ACE-Step-v1-3.5B"
done

echo "== distributed_run: master :$MASTER_PORT + worker :$WORKER_PORT (timeout ${TIMEOUT}s)"
start=$(date +%s)
timeout --kill-after=30 "$TIMEOUT" "$COMFY_VENV/bin/python" "$ROOT/tests/distributed/run_distributed.py" \
  --work "$WORK" --master-port "$MASTER_PORT" --worker-port "$WORKER_PORT"
status=$?
if [[ $status -ne 0 ]]; then
  for role in master worker; do
    echo "---- last lines of the $role log"; tail -n 40 "$WORK/$role.log" 2>/dev/null
  done
fi
echo "distributed_run: exit $status after $(( $(date +%s) - start )) s"
exit $status
