#!/usr/bin/env bash
# cluster/down.sh: delete the local cluster started by cluster/up.sh;
# `make cluster-down`. Idempotent: nothing to delete is not an error.
# Honours PLATFORM_CLUSTER_NAME like cluster/up.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tools/env.sh
. "$ROOT/tools/env.sh"

# shellcheck source=checkout.sh
. "$ROOT/cluster/checkout.sh"
NAME=${PLATFORM_CLUSTER_NAME:-$DEFAULT_CLUSTER_NAME}
STATE=${PLATFORM_CLUSTER_STATE:-$ROOT/.state}
KWOKCTL=$PLATFORM_TOOLS_CACHE/bin/kwok-$KWOK_VERSION/kwokctl
T0=$(date +%s)
say() { printf '[cluster] %s\n' "$*"; }

deleted=0
if command -v kind >/dev/null 2>&1 && grep -qx "$NAME" <<<"$(kind get clusters 2>/dev/null)"; then
    say "deleting kind cluster '$NAME'"
    kind delete cluster --name "$NAME"
    deleted=1
fi
if [[ -x $KWOKCTL ]] && grep -qx "$NAME" <<<"$("$KWOKCTL" get clusters 2>/dev/null)"; then
    say "deleting kwok cluster '$NAME'"
    "$KWOKCTL" --name "$NAME" delete cluster >"$STATE/kwokctl-delete.log" 2>&1 ||
        { cat "$STATE/kwokctl-delete.log" >&2; exit 1; }
    deleted=1
fi
if [[ -e /run/netns/$NAME || -d /var/lib/platform-nodes/$NAME || -d $STATE/node ]]; then
    say "deleting node cluster '$NAME'"
    NAME=$NAME STATE=$STATE "$ROOT/cluster/node/down.sh"
    deleted=1
fi
rm -f "$STATE/kubeconfig" "$STATE/kwok.yaml" "$STATE/runtime"
if ((deleted)); then
    say "cluster '$NAME' deleted in $(($(date +%s) - T0))s"
else
    say "no cluster '$NAME' to delete"
fi
