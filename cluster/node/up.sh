#!/usr/bin/env bash
# cluster/node/up.sh: start (or reuse) the real node: this machine's stand-in for
# a kind node. cluster/up.sh runs it for PLATFORM_CLUSTER_RUNTIME=node.
#
# Built like a kind node: the control plane (etcd, kube-apiserver, controller
# manager, scheduler) and the node (containerd and runc from Debian, kubelet,
# kube-proxy in iptables mode, kube-router enforcing NetworkPolicies, a CNI
# bridge) run inside a network namespace of their own, named for the cluster,
# and a private mount namespace, in a cgroup of their own. Every cluster address
# (the node's 172.18.0.2, pods 10.244.0.0/16, Services 10.96.0.0/16) lives in
# that namespace. The host reaches the cluster only through ports published on
# 127.0.0.1: the API server, and the gateway's NodePorts 30080/30443 on 80/443 as
# cluster/kind.yaml publishes them. Nothing leaves the machine: the namespace has
# no route out, the bridge does not masquerade, CoreDNS forwards nowhere, every
# registry name resolves to the node's own registry of images built here
# (cluster/images/), and the host drops anything from those ranges on its way out.
#
# Environment (cluster/up.sh sets the first four):
#   NAME CONTEXT STATE KCFG       the cluster, its kubeconfig context, state dir, kubeconfig
#   PLATFORM_CLUSTER_HTTP_PORT    host port of the gateway's HTTP NodePort (default 80)
#   PLATFORM_CLUSTER_HTTPS_PORT   host port of the gateway's HTTPS NodePort (default 443)
#   PLATFORM_CLUSTER_API_PORT     host port of the API server (default: a free port)
#   PLATFORM_CLUSTER_TIMEOUT      seconds to wait for the node (default 180)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/cluster/node
# shellcheck source=../../tools/env.sh
. "$ROOT/tools/env.sh"
# shellcheck source=common.sh
. "$HERE/common.sh"
# shellcheck source=pki.sh
. "$HERE/pki.sh"

: "${NAME:?}" "${CONTEXT:?}" "${STATE:?}" "${KCFG:?}"
TIMEOUT=${PLATFORM_CLUSTER_TIMEOUT:-180}
HTTP_PORT=${PLATFORM_CLUSTER_HTTP_PORT:-80}
HTTPS_PORT=${PLATFORM_CLUSTER_HTTPS_PORT:-443}
T0=$(date +%s)

node_preflight

kc() { "$KUBE_BIN/kubectl" --kubeconfig "$KCFG" "$@"; }

# write_kubeconfig PORT: the admin kubeconfig, reaching the API server through the
# port published on the host.
write_kubeconfig() {
    pki_kubeconfig "$KCFG.new" admin "https://127.0.0.1:$1"
    mv "$KCFG.new" "$KCFG"
}

if node_running; then
    write_kubeconfig "$(cat "$NODE_DIR/api-port")"
    if kc get --raw /readyz >/dev/null 2>&1; then
        say "node cluster '$NAME' already running: reusing it"
        exit 0
    fi
fi
if node_exists; then
    say "node cluster '$NAME' exists but is not running: removing it and starting anew"
    "$HERE/down.sh"
fi

mkdir -p "$NODE_DIR/logs" "$NODE_DIR/cni" "$DATA/volumes"
echo "$NAME" >"$NODE_DIR/name"
say "images: building or reusing the images the local stack and the node run (cluster/images/)"
python3 "$ROOT/cluster/images/build.py" --out "$NODE_DIR/images" \
    --binary "coredns=$COREDNS_BIN" --binary "local-path-provisioner=$LOCAL_PATH_BIN" \
    --binary "versitygw=$VERSITYGW_BIN" ||
    die "building the images failed (see above)"

say "creating node cluster '$NAME' (kube $KUBE_VERSION, containerd $(containerd --version | awk '{print $3}'), network namespace '$NAME')"

# The node's network: loopback, and eth0 (a veth whose peer also stays inside) with
# the node's address. No default route: an address outside the cluster's ranges
# is unreachable from the node and from every pod.
ip netns add "$NAME"
ip -n "$NAME" link set lo up
ip -n "$NAME" link add eth0 type veth peer name eth0-peer
ip -n "$NAME" link set eth0-peer up
ip -n "$NAME" addr add "$NODE_IP/16" dev eth0
ip -n "$NAME" link set eth0 up
in_netns sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
host_filter_add

# A cgroup of the node's own in every hierarchy: the kubelet's cgroupRoot, and
# node/ for the daemons. cpuset needs its CPUs and memory nodes set before use;
# under cgroup v2 the controllers are enabled for the node's subtree.
for h in $CGROUP_HIERARCHIES; do
    mkdir -p "/sys/fs/cgroup/$h/$NAME/node"
    case $h in
        cpuset)
            for f in cpuset.cpus cpuset.mems; do
                cat "/sys/fs/cgroup/cpuset/$f" >"/sys/fs/cgroup/cpuset/$NAME/$f"
                cat "/sys/fs/cgroup/cpuset/$f" >"/sys/fs/cgroup/cpuset/$NAME/node/$f"
            done ;;
        .)
            for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
                echo "+$c" >"/sys/fs/cgroup/$NAME/cgroup.subtree_control" 2>/dev/null || true
            done ;;
    esac
done

render() { # render FILE: a config of this directory with the node's values filled in
    sed -e "s|@NAME@|$NAME|g" -e "s|@NODE_NAME@|$NODE_NAME|g" -e "s|@NODE_DIR@|$NODE_DIR|g" \
        -e "s|@PKI@|$PKI|g" -e "s|@POD_CIDR@|$POD_CIDR|g" -e "s|@DNS_IP@|$DNS_IP|g" \
        -e "s|@VOLUMES@|$DATA/volumes|g" -e "s|@COREDNS_VERSION@|$COREDNS_VERSION|g" \
        -e "s|@LOCAL_PATH_PROVISIONER_VERSION@|$LOCAL_PATH_PROVISIONER_VERSION|g" \
        -e "s|@LOCAL_PATH_HELPER_IMAGE@|$LOCAL_PATH_HELPER_IMAGE|g" "$HERE/$1"
}
render containerd.toml >"$NODE_DIR/containerd.toml"
render kubelet.yaml >"$NODE_DIR/kubelet.yaml"
render kube-proxy.yaml >"$NODE_DIR/kube-proxy.yaml"
echo "nameserver $DNS_IP" >"$NODE_DIR/resolv.conf"
# Pods get routes to the pod and Service ranges only, and no masquerading.
cat >"$NODE_DIR/cni/10-platform.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "platform",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "$POD_CIDR"}, {"dst": "$SERVICE_CIDR"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
registry_hosts "$NODE_DIR/registry"

[[ -f $PKI/ca.crt ]] || pki_make

API_PORT=${PLATFORM_CLUSTER_API_PORT:-$(free_port)}
echo "$API_PORT" >"$NODE_DIR/api-port"

export CGROUP_HIERARCHIES NAME NODE_NAME NODE_IP DATA NODE_DIR PKI KUBE_BIN ETCD_BIN NODE_TOOLS KUBE_ROUTER_BIN \
    POD_CIDR SERVICE_CIDR REGISTRY_PORT PLATFORM_ROOT
export PYTHON=python3
setsid nsenter --net="/run/netns/$NAME" -- unshare --mount --propagation private -- \
    "$HERE/in-cgroup.sh" "$HERE/init.sh" >"$NODE_DIR/logs/init.log" 2>&1 </dev/null &
echo $! >"$NODE_DIR/init.pid"

rm -f "$NODE_DIR/published"
setsid "$HERE/in-cgroup.sh" python3 "$HERE/publish.py" --netns "/run/netns/$NAME" \
    --ready "$NODE_DIR/published" \
    "127.0.0.1:$API_PORT=$NODE_IP:6443" \
    "127.0.0.1:$HTTP_PORT=$NODE_IP:30080" \
    "127.0.0.1:$HTTPS_PORT=$NODE_IP:30443" >"$NODE_DIR/logs/publish.log" 2>&1 </dev/null &
PUBLISH_PID=$!
echo "$PUBLISH_PID" >"$NODE_DIR/publish.pid"

write_kubeconfig "$API_PORT"
deadline=$(($(date +%s) + TIMEOUT))
until [[ -f $NODE_DIR/published ]]; do
    if ! kill -0 "$PUBLISH_PID" 2>/dev/null; then
        cat "$NODE_DIR/logs/publish.log" >&2
        "$HERE/down.sh" >/dev/null
        die "could not publish the node's ports on 127.0.0.1 (above); nothing is left running"
    fi
    sleep 0.2
done

wait_for() { # wait_for WHAT CMD...: retry CMD until it succeeds or the node's time is up
    local what=$1; shift
    until "$@" >/dev/null 2>&1; do
        if (($(date +%s) >= deadline)); then
            say "timed out after ${TIMEOUT}s waiting for $what; the last lines of the node's logs:"
            tail -n 5 "$NODE_DIR"/logs/*.log >&2 || true
            rm -rf "$STATE/node-logs" && cp -r "$NODE_DIR/logs" "$STATE/node-logs"
            "$HERE/down.sh" >/dev/null
            die "the node did not come up and was removed; its logs are in $STATE/node-logs/"
        fi
        sleep 0.5
    done
}
wait_for "the API server" kc get --raw /readyz
wait_for "node $NODE_NAME to be Ready" kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
render addons.yaml | kc apply -f - >/dev/null
wait_for "CoreDNS" kc -n kube-system rollout status deployment/coredns --timeout=2s
wait_for "the local-path provisioner" kc -n local-path-storage rollout status deployment/local-path-provisioner --timeout=2s
say "images are built here, never pulled; stand-ins (the upstream program is not to be had, docs/images.md):"
python3 "$ROOT/cluster/images/build.py" --list | awk '/STAND-IN/ { print "[node]   " $2 " (stand-in)" }'
say "node cluster '$NAME' up in $(($(date +%s) - T0))s: API https://127.0.0.1:$API_PORT, gateway NodePorts on 127.0.0.1:$HTTP_PORT (HTTP) and 127.0.0.1:$HTTPS_PORT (HTTPS)"
