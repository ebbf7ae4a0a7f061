#!/usr/bin/env bash
# Runs dumb-init's and tini's own test suites against tend (SPEC: tini mode is a drop-in
# for both). Their tests come from Debian's source packages, pinned by version and by the
# SHA-256 of the upstream tarball, fetched into .peers/ (not committed) on first use:
#   dumb-init 1.2.5 (Debian 1.2.5-2), MIT licence: .peers/dumb-init-1.2.5/LICENSE
#   tini 0.19.0 (Debian 0.19.0-1), MIT licence:      .peers/tini-0.19.0/LICENSE
# A shim named after each (shims/) maps its command line to `tend --`; tend_peers.py marks
# the tests of options tend lacks, and of deliberate differences, as not applicable with
# the reason. Needs root (apt, PID namespaces), tini (the runs' own init, not the tested
# one), and python3-pytest python3-pytest-timeout python3-py python3-psutil python3-prctl.
# Usage: bash test/peers/run.sh [dumb-init|tini]...   (both by default)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${TEND_PEERS_CACHE:-$root/.peers}
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(dumb-init tini)

declare -A PACKAGE=([dumb-init]=dumb-init=1.2.5-2 [tini]=tini=0.19.0-1)
declare -A TARBALL=([dumb-init]=dumb-init_1.2.5.orig.tar.gz [tini]=tini_0.19.0.orig.tar.gz)
declare -A SHA256=(
  [dumb-init]=3eda470d8a4a89123f4516d26877a727c0945006c8830b7e3bad717a5f6efc4e
  [tini]=0fd35a7030052acd9f58948d1d900fe1e432ee37103c5561554408bdac6bbf0d
)
declare -A TREE=([dumb-init]=dumb-init-1.2.5 [tini]=tini-0.19.0)

fetch() {
  local missing=()
  for suite in "${suites[@]}"; do
    [ -f "$cache/${TREE[$suite]}/.verified" ] || missing+=("$suite")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  mkdir -p "$cache/apt/lists/partial" "$cache/apt/parts" "$cache/download"
  # A private apt configuration with only Debian's source index: the system's own
  # sources and lists are left as they are.
  cat > "$cache/apt/parts/debian-src.sources" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  local apt=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$cache/apt/parts" -o "Dir::State::Lists=$cache/apt/lists")
  "${apt[@]}" update >/dev/null
  local packages=()
  for suite in "${missing[@]}"; do packages+=("${PACKAGE[$suite]}"); done
  # Only the upstream tarball is used; a missing Debian patch file does not matter.
  (cd "$cache/download" && "${apt[@]}" source --download-only "${packages[@]}" >/dev/null 2>&1) || true
  for suite in "${missing[@]}"; do
    local file="$cache/download/${TARBALL[$suite]}"
    if [ ! -f "$file" ]; then echo "peers: could not download ${TARBALL[$suite]} (apt-get source ${PACKAGE[$suite]})" >&2; exit 1; fi
    if ! echo "${SHA256[$suite]}  $file" | sha256sum -c --quiet -; then echo "peers: $file does not have the pinned SHA-256" >&2; exit 1; fi
    rm -rf "${cache:?}/${TREE[$suite]}"
    tar -xzf "$file" -C "$cache"
    touch "$cache/${TREE[$suite]}/.verified"
  done
}

python=/usr/bin/python3
if ! "$python" -c 'import pytest, pytest_timeout, py, psutil, prctl' 2>/dev/null; then
  echo "peers: $python needs python3-pytest python3-pytest-timeout python3-py python3-psutil python3-prctl (apt-get install them; .ci/run does)" >&2
  exit 1
fi
init=$(command -v tini || true)
[ -n "$init" ] || { echo 'peers: needs tini (apt-get install tini) as the init of the test runs' >&2; exit 1; }
init=$(readlink -f "$init")
fetch

# Each suite runs in a PID namespace of its own under tini (a reaping init, not the one
# tested), so what a test leaves behind is reaped, killed after the test, and gone at the end.
run_suite() {
  local dir=$1 extra_env=$2; shift 2
  (cd "$dir" && env -u NODE_EXTRA_CA_CERTS PATH="$here/shims:$PATH" PYTHONPATH="$here" TEND_PEERS_NAMESPACE=1 $extra_env \
    unshare --pid --fork --mount-proc "$init" -s -- "$python" -m pytest -p tend_peers -p no:cacheprovider -o timeout=60 -q -rfEsxX "$@")
}

status=0
for suite in "${suites[@]}"; do
  echo "== $suite's own tests against tend (${PACKAGE[$suite]})"
  case $suite in
    dumb-init) run_suite "$cache/${TREE[$suite]}" "" tests || status=1 ;;
    tini) run_suite "$here" "TINI_SRC=$cache/${TREE[$suite]}" --rootdir "$here" -c /dev/null tini_test.py || status=1 ;;
    *) echo "peers: unknown suite $suite" >&2; exit 2 ;;
  esac
done
exit $status
