#!/usr/bin/env bash
# The shipped workflows and the frontend extension inside a real ComfyUI (../shared/comfyui):
#   1. comfy_check.py: every workflows/*.json is validated against /object_info, loaded in the real
#      frontend in headless Chromium (no console error, one screenshot each) and run to completion
#      through /prompt, on the tiny golden checkpoint linked under the real model's name;
#   2. tools/workflows/ui_smoke.py: the lyrics editor and the region picker driven like a user (drag a
#      repaint range and an extend edge on the waveform; run a short song and see the detected
#      languages in the lyrics editor).
#
#   bash tests/workflows_check.sh [extra comfy_check.py arguments]
#
# Environment: ACESTEP_SHARED (default ../shared beside the repository), COMFY_VENV, HARNESS_VENV,
# COMFY_CHECK_OUT (report folder; default /tmp/comfy_check/acestep-v1-workflows-<time>),
# COMFY_CHECK_PORT (default 8188), ACESTEP_COMFY_CHECK=0 (skip step 1), ACESTEP_UI_SMOKE=0 (skip step 2),
# ACESTEP_WORKFLOWS_FAST=1: check the shipped files statically and in the frontend, but execute copies
# with fewer steps and shorter songs (tools/workflows/ci_variant.py: 8 steps, 10 s, extends of 5 s) —
# the full run of the shipped defaults (60 s songs, 60 steps) takes long on a CPU.
# Exits non-zero on any failed check.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${ACESTEP_SHARED:-$ROOT/../shared}"
SHARED="$(cd "$SHARED" && pwd)" || { echo "workflows_check: shared folder not found ($SHARED)" >&2; exit 2; }
COMFY_VENV="${COMFY_VENV:-/tmp/comfy-venv}"
HARNESS_VENV="${HARNESS_VENV:-/tmp/harness-venv}"
OUT="${COMFY_CHECK_OUT:-/tmp/comfy_check/acestep-v1-workflows-$(date +%Y%m%d-%H%M%S)}"
PORT="${COMFY_CHECK_PORT:-8188}"
WORK="${ACESTEP_WORKFLOWS_TMP:-${TMPDIR:-/tmp}/acestep-v1-workflows}"
CHECK="$SHARED/comfyui/comfy_check.py"

say() { printf '\n== workflows_check: %s\n' "$*"; }
die() { echo "workflows_check: ERROR: $*" >&2; exit 2; }

say "ComfyUI + browser (setup_comfyui.sh, idempotent)"
bash "$SHARED/comfyui/setup_comfyui.sh" || die "setup_comfyui.sh failed"

say "the pack's requirements.txt in ComfyUI's venv (as users install it; the pack itself is not pip-installed)"
"$COMFY_VENV/bin/python" -m pip install -q -c "$SHARED/comfyui/pack_constraints.txt" -r "$ROOT/requirements.txt" 2>&1 \
  | grep -v "is ignored: it is neither" || true

say "tiny checkpoint, tiny LoRA, example.flac"
ckpt=$("$COMFY_VENV/bin/python" "$SHARED/golden/materialize_tiny_ckpt.py") || die "materialize_tiny_ckpt.py failed"
[[ -d "$ckpt" ]] || die "materialize_tiny_ckpt.py printed no folder ($ckpt)"
mkdir -p "$WORK" "$OUT"
EXAMPLE="$WORK/example.flac"
"$COMFY_VENV/bin/python" - "$SHARED/golden/inputs/src_sines_44k.wav" "$EXAMPLE" <<'PY' || die "could not write $EXAMPLE"
import sys
import soundfile as sf
data, rate = sf.read(sys.argv[1], always_2d=True)
sf.write(sys.argv[2], data, rate, format="FLAC", subtype="PCM_24")
print(f"{sys.argv[2]}: {data.shape[0] / rate:.2f} s, {data.shape[1]} ch, {rate} Hz")
PY
# train_lora.json's songs, and a fresh first `loras` folder for the LoRA it writes (as tests/nodes_run.sh does).
rm -rf "$WORK/acestep_lora_songs" "$WORK/train_lora_loras"
"$COMFY_VENV/bin/python" "$ROOT/tests/make_lora_songs.py" "$WORK/acestep_lora_songs" || die "could not write the training songs"
mkdir -p "$WORK/train_lora_loras"
printf 'acestep_workflows_check:\n  is_default: true\n  loras: %s\n' "$WORK/train_lora_loras" > "$WORK/extra_model_paths.yaml"
resources=(--model "acestep/ACE-Step-v1-3.5B:$ckpt"
           --model "loras/ACE-Step-v1-chinese-rap-LoRA:$SHARED/golden/tiny_lora"
           --input "$EXAMPLE")
# comfy_check only (ui_smoke takes neither): train_lora.json's songs and its fresh loras folder
check_only=(--input "$WORK/acestep_lora_songs"
            --comfy-arg=--extra-model-paths-config --comfy-arg="$WORK/extra_model_paths.yaml")
status=0

if [[ "${ACESTEP_COMFY_CHECK:-1}" == "0" ]]; then
  say "comfy_check.py skipped (ACESTEP_COMFY_CHECK=0: tests/nodes_run.sh ran it on the shipped workflows)"
elif [[ "${ACESTEP_WORKFLOWS_FAST:-0}" == "1" ]]; then
  say "comfy_check.py: the shipped workflows, static + frontend (report: $OUT/shipped)"
  "$HARNESS_VENV/bin/python" "$CHECK" "$ROOT" --out "$OUT/shipped" --port "$PORT" "${resources[@]}" "${check_only[@]}" "$@" || status=1
  say "comfy_check.py --run-workflows on short copies (report: $OUT/run)"
  fast="$ROOT/build/ci-workflows"
  "$COMFY_VENV/bin/python" "$ROOT/tools/workflows/ci_variant.py" --object-info "$OUT/shipped/object_info.json" \
    --out "$fast" || die "ci_variant.py failed"
  "$HARNESS_VENV/bin/python" "$CHECK" "$ROOT" --workflows build/ci-workflows --run-workflows --no-browser \
    --no-baseline --out "$OUT/run" --port "$PORT" "${resources[@]}" "${check_only[@]}" "$@" || status=1
else
  say "comfy_check.py --run-workflows (report: $OUT)"
  "$HARNESS_VENV/bin/python" "$CHECK" "$ROOT" --run-workflows --out "$OUT" --port "$PORT" "${resources[@]}" "${check_only[@]}" "$@" \
    || status=1
fi

if [[ "${ACESTEP_UI_SMOKE:-1}" != "0" ]]; then
  say "ui_smoke.py: drag regions, run a short song, read the lyrics editor (screenshots: $OUT/ui_smoke)"
  "$HARNESS_VENV/bin/python" "$ROOT/tools/workflows/ui_smoke.py" --out "$OUT/ui_smoke" "${resources[@]}" || status=1
fi

echo "workflows_check: exit $status; reports under $OUT (report.md, screenshots/, ui_smoke/)"
exit $status
