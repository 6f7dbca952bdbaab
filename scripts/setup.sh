#!/usr/bin/env bash
# Installs everything the project needs, idempotently: Debian packages for the Python wheels that build
# from source, the project's virtualenv, and the Pulumi CLI with its Python language host.
# Sourced by ./run, so PATH and the Pulumi settings it exports reach the commands run after it.
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PULUMI_VERSION="$(sed -n 's/^ *"pulumi==\([0-9.]*\)".*/\1/p' "$PROJECT_DIR/pyproject.toml")"
PULUMI_CACHE="${OVIRT_SHE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ovirt-she-migration}/pulumi-v$PULUMI_VERSION"

log() { printf 'setup: %s\n' "$*" >&2; }

# ovirtsdk4 compiles a small C extension against libxml2; pycurl comes as a wheel. The tests of a shared
# state backend start their own PostgreSQL server (tests/test_shared_state.py), and the report is opened in
# headless Chromium (tests/test_e2e_migration.py).
install_system_packages() {
    local missing=()
    for pkg in gcc libxml2-dev postgresql chromium; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    log "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        log "run as root, or install them yourself: apt-get install ${missing[*]}"; return 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The virtualenv is rebuilt only when pyproject.toml changes.
install_venv() {
    local venv="$PROJECT_DIR/.venv" stamp
    stamp="$venv/.deps-$(sha256sum "$PROJECT_DIR/pyproject.toml" | cut -c1-16)"
    [ -f "$stamp" ] && return
    log "creating the Python virtualenv in .venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" - "$PROJECT_DIR/pyproject.toml" <<'PY'
import subprocess, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
deps = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *deps])
PY
    rm -f "$venv"/.deps-* && touch "$stamp"
}

# A pulumi on PATH is used when it is the pinned release or newer within the same major version.
pulumi_on_path_fits() {
    local found want_major
    command -v pulumi >/dev/null || return 1
    [ "$(command -v pulumi)" != "$PULUMI_CACHE/bin/pulumi" ] || return 1  # ours: build_pulumi keeps it current
    found="$(pulumi version 2>/dev/null | sed 's/^v//')" || return 1
    want_major="${PULUMI_VERSION%%.*}"
    [ "${found%%.*}" = "$want_major" ] || return 1
    [ "$(printf '%s\n%s\n' "$PULUMI_VERSION" "$found" | sort -V | head -1)" = "$PULUMI_VERSION" ] || return 1
    command -v pulumi-language-python >/dev/null
}

# Builds the pinned CLI and language host from Pulumi's published Go modules, once per version.
build_pulumi() {
    [ -x "$PULUMI_CACHE/bin/pulumi" ] && [ -f "$(langhost_stamp "$PULUMI_CACHE")" ] && return
    command -v go >/dev/null || { log "Go is needed to build the Pulumi CLI v$PULUMI_VERSION"; return 1; }
    if [ -x "$PULUMI_CACHE/bin/pulumi" ]; then
        log "rebuilding the Python language host: tools/pulumi/langhost changed since it was built"
        build_langhost "$PULUMI_CACHE"; return
    fi
    log "building the Pulumi CLI v$PULUMI_VERSION into $PULUMI_CACHE (once; a few minutes)"
    local work sdk_dir
    work="$(mktemp -d "${PULUMI_CACHE%/*}/.build.XXXXXX" 2>/dev/null || { mkdir -p "${PULUMI_CACHE%/*}"; mktemp -d "${PULUMI_CACHE%/*}/.build.XXXXXX"; })"
    (
        cd "$PROJECT_DIR/tools/pulumi"
        export GOFLAGS=-mod=readonly
        go build -trimpath -ldflags "$(version_ldflags)" -o "$work/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
        sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
        install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$work/bin/"
        install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$work/bin/"
    )
    build_langhost "$work"
    rm -rf "$PULUMI_CACHE" && mv "$work" "$PULUMI_CACHE"
}

version_ldflags() { echo "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"; }

# The language host is ours, so unlike the CLI it changes within a release: a cache that outlives
# the source it was built from has the host rebuilt when there is no stamp of the current source.
langhost_stamp() {
    printf '%s/bin/.langhost-%s' "$1" "$(cd "$PROJECT_DIR/tools/pulumi" && cat langhost/*.go go.mod go.sum | sha256sum | cut -c1-16)"
}

# Built aside and renamed over the old host, so that runs using the old one keep it.
build_langhost() {
    local stamp new
    stamp="$(langhost_stamp "$1")" new="$(mktemp -d "$1/.langhost.XXXXXX")"
    (cd "$PROJECT_DIR/tools/pulumi" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$(version_ldflags)" -o "$new/" ./langhost) \
        || { rm -rf "$new"; return 1; }
    mv -f "$new/langhost" "$1/bin/pulumi-language-python" && rmdir "$new"
    rm -f "$1"/bin/.langhost-* && touch "$stamp"
}

install_system_packages
install_venv
if pulumi_on_path_fits; then
    log "using $(command -v pulumi) ($(pulumi version))"
else
    build_pulumi
    export PATH="$PULUMI_CACHE/bin:$PATH"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PATH="$PROJECT_DIR/.venv/bin:$PATH"
