#!/usr/bin/env bash
# cluster/node/init.sh: the node's first process, as a kind node's entrypoint is.
# cluster/node/up.sh starts it inside the node's network namespace, a private
# mount namespace of its own and the node's cgroup; it gives the node's
# daemons their standard paths (bind mounts that only this namespace sees, so
# they vanish with it), then starts the control plane and the node and waits.
# Everything it starts inherits both namespaces and the cgroup, so
# cluster/node/down.sh finds and stops all of it through the cgroup.
#
# Environment (from up.sh): NAME NODE_NAME NODE_IP DATA NODE_DIR PKI KUBE_BIN ETCD_BIN
#   NODE_TOOLS KUBE_ROUTER_BIN POD_CIDR SERVICE_CIDR REGISTRY_PORT PLATFORM_ROOT PYTHON
set -euo pipefail

# The standard paths of containerd, the kubelet and CNI, this node's own.
bind() { mkdir -p "$1" "$2" && mount --bind "$1" "$2"; }
bind "$DATA/containerd" /var/lib/containerd
bind "$DATA/run/containerd" /run/containerd
bind "$DATA/kubelet" /var/lib/kubelet
bind "$DATA/log" /var/log
bind "$DATA/cni/state" /var/lib/cni
bind "$NODE_DIR/cni" /etc/cni/net.d
# Pod network namespaces are bind-mounted here: a tmpfs of this namespace only.
mkdir -p /run/netns && mount -t tmpfs -o mode=755 tmpfs /run/netns

LOGS=$NODE_DIR/logs
mkdir -p "$LOGS"
# run NAME CMD...: keep CMD running in the background, as the kubelet keeps a static
# pod running (the controller manager, for one, exits when it starts before the
# API server has its RBAC roles); its output in logs/NAME.log.
run() {
    local name=$1; shift
    (
        while true; do
            "$@" && status=0 || status=$?
            echo "[init] $name exited with status $status; starting it again in 1s"
            sleep 1
        done
    ) >"$LOGS/$name.log" 2>&1 </dev/null &
}

run registry "$PYTHON" "$PLATFORM_ROOT/cluster/images/registry.py" --listen "127.0.0.1:$REGISTRY_PORT" --layouts "$NODE_DIR/images"

run etcd "$ETCD_BIN/etcd" --name "$NODE_NAME" --data-dir "$DATA/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --unsafe-no-fsync --log-level warn

run kube-apiserver "$KUBE_BIN/kube-apiserver" --advertise-address "$NODE_IP" --bind-address 0.0.0.0 \
    --secure-port 6443 --etcd-servers http://127.0.0.1:2379 \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction --allow-privileged=true --profiling=false

run kube-controller-manager "$KUBE_BIN/kube-controller-manager" --kubeconfig "$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
    --allocate-node-cidrs=true --cluster-cidr "$POD_CIDR" --node-cidr-mask-size 24 \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false

run kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig "$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig "$PKI/scheduler.kubeconfig" --authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false

run containerd containerd --config "$NODE_DIR/containerd.toml"

run kubelet "$NODE_TOOLS/kubelet" --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$PKI/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --node-labels ingress-ready=true

run kube-proxy "$NODE_TOOLS/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml"

# kube-router reads its node's pod range at start: it starts once the node is registered.
until "$KUBE_BIN/kubectl" --kubeconfig "$PKI/admin.kubeconfig" get node "$NODE_NAME" -o jsonpath='{.spec.podCIDR}' 2>/dev/null |
    grep -q .; do sleep 0.5; done
run kube-router "$KUBE_ROUTER_BIN" --kubeconfig "$PKI/kube-router.kubeconfig" --hostname-override "$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --enable-ipv6=false --service-cluster-ip-range "$SERVICE_CIDR" --metrics-port 0 --health-port 20244

echo "node $NODE_NAME started"
wait
