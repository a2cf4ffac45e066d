# Shared by scripts/setup, scripts/test and scripts/develop (sourced, not run).
#
# Home Assistant 2026.x needs Python >= 3.14.2. We use a host interpreter when there is one;
# otherwise (Debian/Ubuntu as root) a Debian-sid root directory that ships python3.14, entered
# with chroot inside a private mount namespace so nothing stays mounted after we exit.

set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$REPO_DIR/requirements_test.txt"
HA_VERSIONS="$REPO_DIR/scripts/ha-versions.txt"
CACHE_DIR="${NES_ECHELON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nes_echelon}"
SID_ROOT="$CACHE_DIR/sid-root"

# Which Home Assistant release the environment is for: NES_ECHELON_HA names a role of
# scripts/ha-versions.txt (default, oldest, newest); each role has a venv of its own.
HA_ROLE="${NES_ECHELON_HA:-default}"
ha_field() { # ha_field ROLE COLUMN (2: Home Assistant version, 3: harness version)
  awk -v role="$1" -v col="$2" '$1 == role { print $col }' "$HA_VERSIONS"
}
HA_VERSION="$(ha_field "$HA_ROLE" 2)"
HA_HARNESS="$(ha_field "$HA_ROLE" 3)"
if [ -z "$HA_VERSION" ]; then
  printf '[nes_echelon] NES_ECHELON_HA=%s is not a role in %s\n' "$HA_ROLE" "$HA_VERSIONS" >&2
  exit 2
fi
if [ "$HA_ROLE" = default ]; then
  SID_VENV="/opt/nes-echelon-venv"   # path inside the sid root
  HOST_VENV="$REPO_DIR/.venv"
else
  SID_VENV="/opt/nes-echelon-venv-$HA_ROLE"
  HOST_VENV="$REPO_DIR/.venv-$HA_ROLE"
fi

log() { printf '[nes_echelon] %s\n' "$*" >&2; }

# Changes when the requirements, the chosen release or the way we install them change.
requirements_hash() {
  { cat "$REQUIREMENTS" "$REPO_DIR/requirements_develop.txt" "$REPO_DIR/scripts/setup"; echo "$HA_VERSION $HA_HARNESS"; } |
    sha256sum | cut -c1-16
}

# Prints a host python >= 3.14.2, or nothing.
find_host_python() {
  local candidate
  for candidate in "${NES_ECHELON_PYTHON:-}" python3.14 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  if command -v uv >/dev/null 2>&1; then
    uv python find '>=3.14.2' 2>/dev/null && return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local version
    for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.14\.' | sort -rV); do
      local path
      path="$(pyenv root)/versions/$version/bin/python3"
      "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' 2>/dev/null && {
        echo "$path"
        return 0
      }
    done
  fi
  return 0
}

# Decides the mode once: "host" (a host Python 3.14) or "sid" (the chroot).
select_mode() {
  if [ -n "${NES_ECHELON_MODE:-}" ]; then return 0; fi
  HOST_PYTHON="$(find_host_python)"
  if [ -n "$HOST_PYTHON" ]; then
    NES_ECHELON_MODE=host
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -f /etc/debian_version ]; then
    NES_ECHELON_MODE=sid
  else
    log "No Python >= 3.14.2 found, and the fallback (a Debian-sid root) needs root on Debian/Ubuntu."
    log "Install Python 3.14 (e.g. 'uv python install 3.14' or 'pyenv install 3.14') and run again,"
    log "or point NES_ECHELON_PYTHON at one."
    exit 2
  fi
  export NES_ECHELON_MODE HOST_PYTHON
}

# Runs a command with the project's Python environment first on PATH, from the repository root.
# In sid mode it runs inside the chroot; the repository is bind-mounted at the same path.
run_in_env() {
  if [ "$NES_ECHELON_MODE" = host ]; then
    (cd "$REPO_DIR" && PATH="$HOST_VENV/bin:$PATH" VIRTUAL_ENV="$HOST_VENV" "$@")
    return
  fi
  local quoted
  quoted="$(printf '%q ' "$@")"
  # --kill-child: Ctrl-C or the end of this script ends everything inside; the mount namespace
  # (and with it every mount below) disappears with its last process.
  unshare --mount --fork --kill-child -- /bin/sh -c '
    set -e
    root="$1"; repo="$2"; venv="$3"; cmd="$4"
    mount --make-rprivate /
    mount --rbind /dev "$root/dev"
    mount -t proc proc "$root/proc"
    mkdir -p "$root$repo"
    mount --bind "$repo" "$root$repo"
    exec chroot "$root" /usr/bin/env -u PIP_FIND_LINKS \
      PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" VIRTUAL_ENV="$venv" HOME=/root \
      /bin/bash -c "cd \"$repo\" && exec $cmd"
  ' sh "$SID_ROOT" "$REPO_DIR" "$SID_VENV" "$quoted"
}
