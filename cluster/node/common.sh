# cluster/node/common.sh: the real node's layout and helpers, sourced by up.sh and
# down.sh after tools/env.sh, with NAME (the cluster) and STATE set.
# shellcheck shell=bash

say() { printf '[node] %s\n' "$*"; }
die() { printf '[node] ERROR: %s\n' "$*" >&2; exit 1; }

# The cluster's addresses, as kind's defaults; they exist only inside the node's
# network namespace, so two nodes on one machine can use the same ones.
NODE_IP=172.18.0.2
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
SERVICE_API_IP=10.96.0.1
DNS_IP=10.96.0.10
NODE_RANGE=172.18.0.0/16
# The node's registry (cluster/images/registry.py), on the node's own loopback.
REGISTRY_PORT=5000
LOCAL_PATH_HELPER_IMAGE=localhost/platform/local-path-helper:1.35.0

NODE_NAME=$NAME-control-plane
NODE_DIR=$STATE/node
PKI=$NODE_DIR/pki
DATA=/var/lib/platform-nodes/$NAME

BIN=$PLATFORM_TOOLS_CACHE/bin
KUBE_BIN=$BIN/kubernetes-$KUBE_VERSION
ETCD_BIN=$BIN/etcd-$ETCD_VERSION
NODE_TOOLS=$BIN/kubernetes-node-$KUBE_VERSION
COREDNS_BIN=$BIN/coredns-$COREDNS_VERSION/coredns
LOCAL_PATH_BIN=$BIN/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION/local-path-provisioner
VERSITYGW_BIN=$BIN/versitygw-$VERSITYGW_VERSION/versitygw
KUBE_ROUTER_BIN=$BIN/kube-router-$KUBE_ROUTER_VERSION/kube-router

# The cgroup hierarchies the node's processes join: every v1 hierarchy mounted
# under /sys/fs/cgroup, or the unified one itself on a cgroup v2 machine (".").
cgroup_hierarchies() {
    if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
        echo .
        return
    fi
    awk '$3 == "cgroup" && $2 ~ "^/sys/fs/cgroup/" { sub("^/sys/fs/cgroup/", "", $2); printf "%s ", $2 }' /proc/mounts
}
CGROUP_HIERARCHIES=$(cgroup_hierarchies)

# Every cgroup mount under /sys/fs/cgroup, the v2 one of a hybrid machine too: runc
# makes the containers' cgroups there as well, and down.sh removes them from each.
cgroup_mounts() {
    awk '($3 == "cgroup" || $3 == "cgroup2") && $2 ~ "^/sys/fs/cgroup(/|$)" { print $2 }' /proc/mounts
}

# Where this machine's own traffic leaves: the interfaces of its default routes.
uplinks() { ip -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1)}' | sort -u; }

in_netns() { nsenter --net="/run/netns/$NAME" -- "$@"; }

node_exists() { [[ -e /run/netns/$NAME || -d $DATA || -d $NODE_DIR ]]; }

node_running() {
    [[ -e /run/netns/$NAME && -f $NODE_DIR/init.pid && -f $NODE_DIR/api-port ]] &&
        kill -0 "$(cat "$NODE_DIR/init.pid")" 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

FILTER_COMMENT="platform node $NAME"

# host_filter_rules: one line per rule of the host's packet filter for this node
# (arguments to `iptables -I`/`-D`): nothing from or to the cluster's ranges leaves
# through the machine's own interfaces.
host_filter_rules() {
    local dev range chain
    for dev in $(uplinks); do
        for range in "$POD_CIDR" "$SERVICE_CIDR" "$NODE_RANGE"; do
            for chain in OUTPUT FORWARD; do
                echo "$chain -o $dev -s $range -j DROP -m comment --comment"
                echo "$chain -o $dev -d $range -j DROP -m comment --comment"
            done
        done
    done
}

host_filter_add() {
    local rule
    while read -r rule; do
        # shellcheck disable=SC2086
        iptables -w -I $rule "$FILTER_COMMENT"
    done < <(host_filter_rules)
}

# host_filter_del: every rule carrying this node's comment, whatever the uplinks are now.
host_filter_del() {
    command -v iptables-save >/dev/null 2>&1 || return 0
    local rule
    while read -r rule; do
        eval "iptables -w -D ${rule#-A }"
    done < <(iptables-save -t filter 2>/dev/null | grep -F -- "--comment \"$FILTER_COMMENT\"")
}

# registry_hosts DIR: containerd hosts files that send every registry name to the
# node's registry, and nowhere else (`server` is the only upstream).
registry_hosts() {
    local dir=$1 host
    for host in _default docker.io registry-1.docker.io ghcr.io quay.io registry.k8s.io k8s.gcr.io gcr.io \
        public.ecr.aws mcr.microsoft.com localhost; do
        mkdir -p "$dir/$host"
        cat >"$dir/$host/hosts.toml" <<TOML
server = "http://127.0.0.1:$REGISTRY_PORT"

[host."http://127.0.0.1:$REGISTRY_PORT"]
  capabilities = ["pull", "resolve"]
TOML
    done
}

node_preflight() {
    [[ $(uname -s) == Linux ]] || die "the real node runs on Linux only (this is $(uname -s)); use PLATFORM_CLUSTER_RUNTIME=kwok"
    [[ $(id -u) == 0 ]] || die "the real node needs root (network namespaces, mounts, cgroups); use PLATFORM_CLUSTER_RUNTIME=kwok"
    "$PLATFORM_ROOT/cluster/node/packages.sh"
    local b
    for b in "$KUBE_BIN/kube-apiserver" "$KUBE_BIN/kube-controller-manager" "$KUBE_BIN/kube-scheduler" \
        "$KUBE_BIN/kubectl" "$ETCD_BIN/etcd" "$NODE_TOOLS/kubelet" "$NODE_TOOLS/kube-proxy" \
        "$COREDNS_BIN" "$LOCAL_PATH_BIN" "$KUBE_ROUTER_BIN" "$VERSITYGW_BIN"; do
        [[ -x $b ]] || die "$b is missing: run make tools (tools/bootstrap.sh) first"
    done
    [[ -n $CGROUP_HIERARCHIES ]] || die "no cgroup hierarchy is mounted under /sys/fs/cgroup"
}
