#!/usr/bin/env bash
# cluster/node/packages.sh: install the Debian packages the real node and the image
# builds need, when missing. Idempotent and quiet when everything is there.
#
#   cluster/node/packages.sh            # the node's packages (NODE_PACKAGES)
#   cluster/node/packages.sh mmdebstrap # only these
#
# The node runs Debian's own containerd, runc and CNI plugins (bookworm); the
# versions are pinned in tools/versions.env (NODE_DEB_*) and apt refuses any other.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../tools/versions.env
. "$ROOT/tools/versions.env"

say() { printf '[node] %s\n' "$*"; }
die() { printf '[node] ERROR: %s\n' "$*" >&2; exit 1; }

# name=version for the packages whose behaviour the node depends on; the rest
# (iptables, ipset, conntrack, nftables) take bookworm's current version.
NODE_PACKAGES=(
    "containerd=$NODE_DEB_CONTAINERD"
    "runc=$NODE_DEB_RUNC"
    "containernetworking-plugins=$NODE_DEB_CNI_PLUGINS"
    iptables ipset conntrack nftables
)

wanted=("$@")
((${#wanted[@]})) || wanted=("${NODE_PACKAGES[@]}")

missing=()
for spec in "${wanted[@]}"; do
    name=${spec%%=*} want=""
    [[ $spec != *=* ]] || want=${spec#*=}
    have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null) || have=""
    if [[ $have == "install ok installed "* ]] && [[ -z $want || ${have##* } == "$want" ]]; then continue; fi
    missing+=("$spec")
done
((${#missing[@]})) || exit 0

command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to install ${missing[*]} (the real node runs on Debian or Ubuntu)"
[[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root: run as root, or install them yourself"
log=$(mktemp -t platform-node-apt.XXXXXX)
say "installing Debian packages: ${missing[*]} (log: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || {
        tail -n 15 "$log" | sed 's/^/    /' >&2
        die "apt-get install ${missing[*]} failed (log: $log); if a pinned version is gone from the mirror, raise NODE_DEB_* in tools/versions.env"
    }
fi
# Debian starts containerd as a system service on install; the node runs its own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then
    systemctl disable --now containerd >>"$log" 2>&1 || true
fi
rm -f "$log"
