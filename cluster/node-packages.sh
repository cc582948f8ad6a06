#!/usr/bin/env bash
# cluster/node-packages.sh: install Debian packages the local cluster and its images
# need on this machine, only those missing.
#
#   cluster/node-packages.sh mmdebstrap=1.3.5-7 busybox-static ...
#
# Each argument is a package, optionally pinned `name=version`. A package already
# installed (at the pinned version, when one is given) is left alone, so a run with
# everything present prints nothing and changes nothing. Otherwise it prints what it
# installs and runs `apt-get install -y --no-install-recommends` for exactly those
# (as root; `apt-get update` once first when the lists do not know a package yet).
# Used by cluster/images/build.py and the real node's scripts.
set -euo pipefail

say() { printf '[packages] %s\n' "$*"; }
die() { printf '[packages] ERROR: %s\n' "$*" >&2; exit 1; }

(($#)) || die "usage: $0 PACKAGE[=VERSION]..."
command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 ||
    die "dpkg and apt-get are needed (a Debian machine) to install: $*"

missing=()
for spec in "$@"; do
    name=${spec%%=*} want=
    [[ $spec == *=* ]] && want=${spec#*=}
    have=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$name" 2>/dev/null || true)
    if [[ $have == "ii "* ]] && { [[ -z $want ]] || [[ ${have##* } == "$want" ]]; }; then
        continue
    fi
    missing+=("$spec")
done
((${#missing[@]})) || exit 0

[[ $(id -u) == 0 ]] || die "root is needed to install ${missing[*]}: run 'sudo $0 ${missing[*]}'"
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A new machine may have no package lists, or lists older than a pin: update once.
if ! apt-get install -y --no-install-recommends -qq "${missing[@]}" >/tmp/node-packages.$$.log 2>&1; then
    say "apt-get install failed; updating the package lists and retrying"
    if ! { apt-get update -qq && apt-get install -y --no-install-recommends -qq "${missing[@]}"; } \
        >>/tmp/node-packages.$$.log 2>&1; then
        tail -n 15 /tmp/node-packages.$$.log | sed 's/^/    /' >&2
        die "could not install ${missing[*]} (log: /tmp/node-packages.$$.log); if a pinned version is gone from the mirror, raise the pin"
    fi
fi
rm -f /tmp/node-packages.$$.log
say "installed ${missing[*]}"
