#!/usr/bin/env bash
# cluster/node/down.sh: remove the real node NAME (cluster/down.sh runs it).
# Stops every process of the node through its cgroup (daemons, shims and
# containers alike), which also releases its mount namespace and with it every
# mount the node made; then deletes its network namespace (the bridge, the pods'
# interfaces and the node's packet filter rules live there), the host's filter
# rules for it, its cgroups and its files. Idempotent.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../tools/env.sh
. "$ROOT/tools/env.sh"
: "${NAME:?}" "${STATE:?}"
# shellcheck source=common.sh
. "$ROOT/cluster/node/common.sh"

cgroup_dirs() { # every cgroup directory of the node, deepest first
    local m
    for m in $(cgroup_mounts); do
        if [[ -d $m/$NAME ]]; then find "$m/$NAME" -type d; fi
    done | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

node_pids() { cgroup_dirs | while read -r d; do cat "$d/cgroup.procs" 2>/dev/null; done | sort -u; }

# Freeze first, so nothing the node runs can start another process between the
# listing and the kill (a kubelet restarting a container, a shim reaping).
freeze() {
    local f=/sys/fs/cgroup/freezer/$NAME/freezer.state
    [[ -f $f ]] && echo "$1" >"$f" 2>/dev/null || true
}

stop_processes() {
    local pids tries=0
    if [[ -f /sys/fs/cgroup/$NAME/cgroup.kill ]]; then echo 1 >"/sys/fs/cgroup/$NAME/cgroup.kill"; fi
    while pids=$(node_pids) && [[ -n $pids ]]; do
        freeze FROZEN
        # shellcheck disable=SC2086
        kill -9 $pids 2>/dev/null || true
        freeze THAWED
        ((++tries < 100)) || die "processes of the node survive SIGKILL: $(echo $pids)"
        sleep 0.1
    done
}

if ! node_exists && [[ -z $(cgroup_dirs) ]]; then
    host_filter_del
    exit 0
fi
T0=$(date +%s)
stop_processes
# The kernel frees a network namespace only once nothing holds it: the pods' are
# held by bind mounts in the (now released) mount namespace, the node's by its file.
[[ ! -e /run/netns/$NAME ]] || ip netns del "$NAME"
host_filter_del
cgroup_dirs | while read -r d; do rmdir "$d" 2>/dev/null || true; done
[[ -z $(cgroup_dirs) ]] || die "cgroups of the node remain: $(cgroup_dirs | tr '\n' ' ')"
if grep -qF " $DATA" /proc/mounts; then
    die "mounts under $DATA remain (grep $DATA /proc/mounts); unmount them and re-run cluster/down.sh"
fi
rm -rf "$DATA" "$NODE_DIR"
say "node '$NAME' removed in $(($(date +%s) - T0))s"
