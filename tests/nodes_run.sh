#!/usr/bin/env bash
# The ComfyUI suite: node tests inside a real ComfyUI, then the acceptance checker on a real server.
#
#   1. set up ComfyUI + its venv (../shared/comfyui/setup_comfyui.sh; idempotent, ~5 s when done)
#   2. install the pack the way users do: requirements.txt only (torch pinned to ComfyUI's). Nothing of
#      the pack is pip-installed; the suite fails if `acestep_core` is importable in ComfyUI's Python.
#   3. pytest tests/nodes with ComfyUI's Python (real `comfy`, real executor; never mocks; the pack is
#      loaded from its folder by ComfyUI's own load_custom_node), then tests/install: the pack cloned,
#      unzipped, installed from a registry package beside a stale acestep_core, and run as a portable
#      build does, each in a real server (registration, template list, thumbnails, one song)
#   4. comfy_check.py on the pack: import, registration (no shadowed id), frontend, and our API graphs
#      (text2music; LoadAudio → repaint) queued through /prompt on the tiny checkpoint
#
# Env: COMFY_DIR, COMFY_VENV, HARNESS_VENV (setup_comfyui.sh's), ACESTEP_SHARED, NODES_PORT (default 8199),
#      NODES_NO_BROWSER=1 (skip the browser checks), NODES_RUN_WORKFLOWS=0 (queue only our API graphs, not the
#      shipped workflows), NODES_SKIP_PYTEST=1 (only the server check), NODES_PYTEST_ARGS (extra pytest arguments).
# Exits non-zero if any step fails or pytest collects no test.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${ACESTEP_SHARED:-$ROOT/../shared}"
export ACESTEP_SHARED="$SHARED"
export COMFY_DIR="${COMFY_DIR:-/tmp/comfyui}"
export COMFY_VENV="${COMFY_VENV:-/tmp/comfy-venv}"
export HARNESS_VENV="${HARNESS_VENV:-/tmp/harness-venv}"
PORT="${NODES_PORT:-8199}"
cd "$ROOT"
status=0

echo "== nodes 1/4: ComfyUI at $COMFY_DIR"
if [[ "${NODES_NO_BROWSER:-0}" == "1" ]]; then export SKIP_BROWSER=1; fi
bash "$SHARED/comfyui/setup_comfyui.sh" || { echo "setup_comfyui.sh failed" >&2; exit 2; }

echo "== nodes 2/4: requirements.txt into $COMFY_VENV (as users install the pack; nothing of it pip-installed)"
# A developer's earlier `pip install -e` of the repository would let node tests import acestep_core by
# name, hiding exactly the import failure users hit: remove it (it is this repository's own package).
if "$COMFY_VENV/bin/python" -m pip show -q acestep-v1 >/dev/null 2>&1; then
  echo "removing a pip-installed acestep-v1 from $COMFY_VENV (users never have one)"
  "$COMFY_VENV/bin/python" -m pip uninstall -q -y acestep-v1 || exit 2
fi
"$COMFY_VENV/bin/python" -m pip install -q -r "$ROOT/requirements.txt" pytest \
    -c "$SHARED/comfyui/comfy_constraints.txt" 2>&1 | grep -v "is ignored" || true
(cd / && "$COMFY_VENV/bin/python" -c "import pytest, transformers, torch; print('torch', torch.__version__, 'transformers', transformers.__version__)") \
    || { echo "the pack's requirements do not import in ComfyUI's venv" >&2; exit 2; }
if (cd / && "$COMFY_VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('acestep_core') is None)"); then
  echo "acestep_core is importable in ComfyUI's Python from outside the pack folder: the tests would not see" \
       "the users' path (see: cd / && $COMFY_VENV/bin/python -c 'import acestep_core; print(acestep_core.__file__)')" >&2
  exit 2
fi

echo "== nodes 3/4: pytest tests/nodes (ComfyUI's Python)"
if [[ "${NODES_SKIP_PYTEST:-0}" != "1" ]]; then
  # shellcheck disable=SC2086
  "$COMFY_VENV/bin/python" -m pytest tests/nodes -q -p no:randomly ${NODES_PYTEST_ARGS:-}
  rc=$?
  [[ $rc -eq 5 ]] && echo "pytest collected no tests" >&2
  [[ $rc -ne 0 ]] && status=1
  echo "== nodes 3/4: tests/install (every way users install the pack, each in a real server)"
  # shellcheck disable=SC2086
  "$COMFY_VENV/bin/python" -m pytest tests/install -q -p no:randomly ${NODES_PYTEST_ARGS:-}
  rc=$?
  [[ $rc -eq 5 ]] && echo "pytest collected no tests" >&2
  [[ $rc -ne 0 ]] && status=1
fi

echo "== nodes 4/4: comfy_check.py on the pack (real server, /prompt)"
work="$(mktemp -d /tmp/acestep-nodes-check.XXXXXX)"
ckpt="$("$COMFY_VENV/bin/python" "$SHARED/golden/materialize_tiny_ckpt.py")" || { echo "no tiny checkpoint" >&2; exit 2; }
"$COMFY_VENV/bin/python" -c "import soundfile as sf, sys; d, r = sf.read(sys.argv[1]); sf.write(sys.argv[2], d, r)" \
    "$SHARED/golden/inputs/src_sines_44k.wav" "$work/example.flac"
"$COMFY_VENV/bin/python" tests/nodes/acestep_node_graphs.py "$work/graphs" example.flac
# workflows/train_lora.json trains on the folder acestep_lora_songs of ComfyUI's input/: three short synthetic
# songs (NAME.wav + NAME_prompt.txt + NAME_lyrics.txt), linked in with --input like example.flac.
"$COMFY_VENV/bin/python" tests/make_lora_songs.py "$work/acestep_lora_songs" \
  || { echo "could not write the training songs" >&2; exit 2; }
# AceStepV1TrainLora writes models/loras/<lora_name>/ and refuses an existing one, and this ComfyUI's models/
# folder outlives the run: a second run of train_lora.json would fail there. ComfyUI's first `loras` path is
# where the node writes, so an extra_model_paths file puts this run's own empty folder first (is_default);
# models/loras stays searched (the tiny RapMachine LoRA below) and nothing in it is written or removed.
mkdir -p "$work/loras"
printf 'acestep_nodes_check:\n  is_default: true\n  loras: %s\n' "$work/loras" > "$work/extra_model_paths.yaml"
expect=$("$COMFY_VENV/bin/python" "$ROOT/tests/pack_nodes.py") || { echo "no node ids in nodes/*.py" >&2; exit 2; }
args=("$ROOT" --port "$PORT" --out "$work/report"
      --api-graph "$work/graphs/acestep_v1_text2music.json" --api-graph "$work/graphs/acestep_v1_repaint.json"
      --model "acestep/ACE-Step-v1-3.5B:$ckpt"
      --model "loras/ACE-Step-v1-chinese-rap-LoRA:$SHARED/golden/tiny_lora"
      --input "$work/example.flac" --input "$work/acestep_lora_songs"
      --comfy-arg=--extra-model-paths-config --comfy-arg="$work/extra_model_paths.yaml" --expect-nodes "$expect")
if [[ "${NODES_RUN_WORKFLOWS:-1}" == "1" ]] && compgen -G "$ROOT/workflows/*.json" >/dev/null; then
  args+=(--run-workflows)  # the shipped workflows too (their own settings: full-length songs, 60 steps)
fi
# workflows/distributed_text2music.json needs ComfyUI-Distributed, whose AudioBatchDivider declares one output
# type for its ten dynamic outputs: the checker's static link check reads that as "no output slot 1" and
# refuses the workflow. tests/distributed_run.sh runs that workflow for real (master + worker), and
# tests/install checks it is served as a template; here every other shipped workflow is checked.
mkdir -p "$ROOT/build/comfy-check-workflows"
rm -f "$ROOT"/build/comfy-check-workflows/*.json
for wf in "$ROOT"/workflows/*.json; do
  [[ "$(basename "$wf")" == distributed_* ]] || cp "$wf" "$ROOT/build/comfy-check-workflows/"
done
args+=(--workflows build/comfy-check-workflows)
checker_py="$HARNESS_VENV/bin/python"
if [[ "${NODES_NO_BROWSER:-0}" == "1" || ! -x "$checker_py" ]]; then
  args+=(--no-browser); [[ -x "$checker_py" ]] || checker_py="$COMFY_VENV/bin/python"
fi
"$checker_py" "$SHARED/comfyui/comfy_check.py" "${args[@]}"
rc=$?
echo "comfy_check report: $work/report/report.md"
[[ $rc -ne 0 ]] && status=1
exit $status
