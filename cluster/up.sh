#!/usr/bin/env bash
# cluster/up.sh: start (or reuse) this checkout's local cluster; `make cluster`.
#
# Three runtimes, one stack:
#   kind  with Docker and kind available: a kind cluster (cluster/kind.yaml);
#   node  otherwise, on Linux as root: the control plane plus one real node with
#         containerd and runc, built like a kind node (cluster/node/up.sh): pods
#         run in real containers, from images built here (cluster/images/);
#   kwok  the emulated plane: the control plane run by kwokctl, with fake nodes and
#         kwok Stages (cluster/kwok.yaml) that mark pods Ready at once (no
#         container runs), plus a default StorageClass `standard`. Fast: for the
#         suites about API objects, state and the CLI.
#
# Either way the kubeconfig is written to <repo>/.state/kubeconfig, self-contained
# (certificates inline) and with one context, `kind-platform`: the context the
# local stack names (kubernetes:context in Pulumi.local.yaml). The cluster itself
# is named for the checkout (platform-<cksum of its path>), so two checkouts on one
# machine each have their own cluster and never act on each other's objects. The
# script returns once the API server answers, the nodes are Ready and the default
# StorageClass exists. Running it again reuses the running cluster.
#
# Environment:
#   PLATFORM_CLUSTER_RUNTIME  auto (default: kind, else node, else kwok) | kind | node | kwok
#   PLATFORM_CLUSTER_NAME     cluster name (default: platform-<checkout id>)
#   PLATFORM_CLUSTER_CONTEXT  context name in the kubeconfig (default: kind-platform)
#   PLATFORM_CLUSTER_NODES    fake nodes for kwok (default: 3)
#   PLATFORM_CLUSTER_TIMEOUT  seconds to wait for readiness (default: 180)
#   PLATFORM_CLUSTER_STATE    directory for its kubeconfig and logs (default: .state)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tools/env.sh
. "$ROOT/tools/env.sh"

# shellcheck source=checkout.sh
. "$ROOT/cluster/checkout.sh"
NAME=${PLATFORM_CLUSTER_NAME:-$DEFAULT_CLUSTER_NAME}
CONTEXT=${PLATFORM_CLUSTER_CONTEXT:-kind-platform}
NODES=${PLATFORM_CLUSTER_NODES:-3}
TIMEOUT=${PLATFORM_CLUSTER_TIMEOUT:-180}
STATE=${PLATFORM_CLUSTER_STATE:-$ROOT/.state}
KCFG=$STATE/kubeconfig
BIN=$PLATFORM_TOOLS_CACHE/bin
KUBE_BIN=$BIN/kubernetes-$KUBE_VERSION
ETCD_BIN=$BIN/etcd-$ETCD_VERSION
KWOK_BIN=$BIN/kwok-$KWOK_VERSION
T0=$(date +%s)

say() { printf '[cluster] %s\n' "$*"; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(($(date +%s) - T0))s"; }

mkdir -p "$STATE"

# kubectl: the pinned one when built, else whatever is on PATH.
if [[ -x $KUBE_BIN/kubectl ]]; then KUBECTL=$KUBE_BIN/kubectl
elif command -v kubectl >/dev/null 2>&1; then KUBECTL=$(command -v kubectl)
else die "no kubectl: run tools/bootstrap.sh (make tools) first"; fi
kc() { "$KUBECTL" --kubeconfig "$KCFG" "$@"; }

# write_kubeconfig CMD...: the kubeconfig CMD prints, made self-contained and with
# its one context renamed to $CONTEXT, written to $KCFG (mode 600).
write_kubeconfig() {
    local raw=$KCFG.raw
    (umask 077 && "$@" >"$raw")
    local from
    from=$("$KUBECTL" --kubeconfig "$raw" config current-context)
    if [[ $from != "$CONTEXT" ]]; then
        "$KUBECTL" --kubeconfig "$raw" config rename-context "$from" "$CONTEXT" >/dev/null
    fi
    (umask 077 && "$KUBECTL" --kubeconfig "$raw" config view --flatten --raw >"$KCFG.new")
    mv "$KCFG.new" "$KCFG"
    rm -f "$raw"
}

pick_runtime() {
    local want=${PLATFORM_CLUSTER_RUNTIME:-auto}
    case $want in
        kind | node | kwok) echo "$want" ;;
        auto)
            if command -v kind >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 &&
                docker info >/dev/null 2>&1; then
                echo kind
            elif [[ $(uname -s) == Linux && $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
                echo node
            else
                echo kwok
            fi ;;
        *) die "PLATFORM_CLUSTER_RUNTIME must be auto, kind, node or kwok (got '$want')" ;;
    esac
}

# wait_until DESCRIPTION COMMAND...: retry COMMAND (quietly) until it succeeds.
wait_until() {
    local what=$1 deadline=$(($(date +%s) + TIMEOUT)); shift
    until "$@" >/dev/null 2>&1; do
        (($(date +%s) < deadline)) || die "timed out after ${TIMEOUT}s waiting for $what (kubeconfig: $KCFG)$HINT"
        sleep 1
    done
}

nodes_ready() {
    local n
    n=$(kc get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
        grep -c '^True$') || return 1
    ((n >= EXPECT_NODES))
}

default_storageclass() {
    kc get storageclass -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}{"\n"}{end}' |
        grep -qx 'standard=true'
}

wait_ready() {
    wait_until "the API server" kc get --raw /readyz
    wait_until "$EXPECT_NODES Ready node(s)" nodes_ready
    wait_until "the default StorageClass 'standard'" default_storageclass
}

up_kind() {
    HINT=" (see: kind export logs --name $NAME)"
    EXPECT_NODES=1
    if grep -qx "$NAME" <<<"$(kind get clusters 2>/dev/null)"; then
        say "kind cluster '$NAME' already exists: reusing it"
    else
        say "creating kind cluster '$NAME' (cluster/kind.yaml)"
        kind create cluster --name "$NAME" --config "$ROOT/cluster/kind.yaml" \
            --kubeconfig "$KCFG.kind" --wait "${TIMEOUT}s"
        rm -f "$KCFG.kind"
    fi
    write_kubeconfig kind get kubeconfig --name "$NAME"
    wait_ready
}

render_kwok_config() {
    sed -e "s|@KUBE_BIN@|$KUBE_BIN|g" -e "s|@ETCD_BIN@|$ETCD_BIN|g" -e "s|@KWOK_BIN@|$KWOK_BIN|g" \
        -e "s|@KUBE_VERSION@|$KUBE_VERSION|g" -e "s|@ETCD_VERSION@|$ETCD_VERSION|g" \
        -e "s|@KWOK_VERSION@|$KWOK_VERSION|g" "$ROOT/cluster/kwok.yaml"
}

up_kwok() {
    HINT=" (see: kwokctl --name $NAME logs kube-apiserver|kwok-controller|...; files under ~/.kwok/clusters/$NAME)"
    EXPECT_NODES=$NODES
    local b
    for b in "$KUBE_BIN/kube-apiserver" "$KUBE_BIN/kube-controller-manager" "$KUBE_BIN/kube-scheduler" \
        "$KUBE_BIN/kubectl" "$ETCD_BIN/etcd" "$KWOK_BIN/kwok" "$KWOK_BIN/kwokctl"; do
        [[ -x $b ]] || die "$b is missing: run tools/bootstrap.sh (make tools) first"
    done
    local kwokctl=$KWOK_BIN/kwokctl
    local conf=$STATE/kwok.yaml
    render_kwok_config >"$conf.new"

    if grep -qx "$NAME" <<<"$("$kwokctl" get clusters 2>/dev/null)"; then
        if [[ ! -f $conf ]]; then
            mv "$conf.new" "$conf"
        elif ! cmp -s "$conf.new" "$conf"; then
            say "note: cluster/kwok.yaml changed since '$NAME' was created; run cluster/down.sh && cluster/up.sh to apply it"
        fi
        rm -f "$conf.new"
        write_kubeconfig "$kwokctl" --name "$NAME" get kubeconfig
        if kc get --raw /readyz >/dev/null 2>&1; then
            say "kwok cluster '$NAME' already running: reusing it"
        else
            say "kwok cluster '$NAME' exists but is stopped: starting it"
            "$kwokctl" --name "$NAME" start cluster >"$STATE/kwokctl-start.log" 2>&1 ||
                die "kwokctl start cluster failed (log: $STATE/kwokctl-start.log)$HINT"
            write_kubeconfig "$kwokctl" --name "$NAME" get kubeconfig
        fi
    else
        mv "$conf.new" "$conf"
        say "creating kwok cluster '$NAME' (runtime binary, kube $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
        local log=$STATE/kwokctl-create.log
        if ! "$kwokctl" --name "$NAME" -c "$conf" create cluster --kubeconfig "$KCFG.kwok" \
            --wait "${TIMEOUT}s" >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            die "kwokctl create cluster failed (log: $log)$HINT"
        fi
        rm -f "$KCFG.kwok"
        write_kubeconfig "$kwokctl" --name "$NAME" get kubeconfig
    fi

    wait_until "the API server" kc get --raw /readyz
    # Fake nodes (idempotent: scales to exactly $NODES) and the StorageClass. kwokctl's
    # node template has no ephemeral storage, and every container requests some.
    "$kwokctl" --name "$NAME" scale node --replicas "$NODES" \
        --param '.allocatable["ephemeral-storage"]="200Gi"' >"$STATE/kwokctl-scale.log" 2>&1 ||
        die "kwokctl scale node failed (log: $STATE/kwokctl-scale.log)"
    kc apply -f "$ROOT/cluster/storageclass.yaml" >/dev/null
    wait_ready
}

up_node() {
    HINT=" (the node's logs: $STATE/node/logs/)"
    EXPECT_NODES=1
    NAME=$NAME CONTEXT=$CONTEXT STATE=$STATE KCFG=$KCFG TIMEOUT=$TIMEOUT "$ROOT/cluster/node/up.sh"
    wait_ready
}

RUNTIME=$(pick_runtime)
HINT=""
case $RUNTIME in
    kind) up_kind ;;
    node) up_node ;;
    kwok) up_kwok ;;
esac
# Which runtime serves this kubeconfig: `make up` says when nothing can answer on the url.
echo "$RUNTIME" >"$STATE/runtime"
say "cluster '$NAME' ($RUNTIME) ready in $(elapsed): $(kc get nodes --no-headers | wc -l | tr -d ' ') node(s) Ready, default StorageClass 'standard'"
say "kubeconfig: $KCFG, context $CONTEXT (the local stack's kubernetes:kubeconfig and kubernetes:context)"
