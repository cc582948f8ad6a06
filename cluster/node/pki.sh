# cluster/node/pki.sh: the node's certificates and kubeconfigs, made once per
# cluster with openssl (sourced by cluster/node/up.sh). One CA signs the API
# server's serving certificate and a client certificate per component; the
# component's user and group are what RBAC's bootstrap bindings expect
# (system:kube-controller-manager, system:kube-scheduler, system:node:<node>,
# system:kube-proxy), so each gets exactly the permissions it has under kubeadm.
# shellcheck shell=bash

# pki_cert NAME SUBJECT [SANS]: a key and a certificate signed by the CA.
pki_cert() {
    local name=$1 subject=$2 sans=${3:-} ext
    ext=$(mktemp)
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [[ -n $sans ]]; then
            echo "extendedKeyUsage=serverAuth"
            echo "subjectAltName=$sans"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } >"$ext"
    openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
    openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.csr" "$ext"
}

# pki_kubeconfig FILE CERT SERVER: a kubeconfig for CERT's user, context $CONTEXT.
pki_kubeconfig() {
    local file=$1 cert=$2 server=$3
    (
        umask 077
        cat >"$file" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: $NAME
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$PKI/$cert.key")
contexts:
- name: $CONTEXT
  context: {cluster: $NAME, user: $cert}
current-context: $CONTEXT
KCFG
    )
}

# pki_make: everything, into $PKI (kept for the node's life, removed by down).
pki_make() {
    mkdir -p "$PKI" && chmod 700 "$PKI"
    (
        umask 077
        openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
        openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=$NAME-ca" -days 3650 -sha256 \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$PKI/ca.crt" 2>/dev/null
        pki_cert apiserver "/CN=kube-apiserver" \
            "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$NODE_NAME,IP:$SERVICE_API_IP,IP:127.0.0.1,IP:$NODE_IP"
        pki_cert kubelet-serving "/CN=$NODE_NAME" "DNS:$NODE_NAME,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
        pki_cert admin "/O=system:masters/CN=kubernetes-admin"
        pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
        pki_cert controller-manager "/CN=system:kube-controller-manager"
        pki_cert scheduler "/CN=system:kube-scheduler"
        pki_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
        pki_cert kube-proxy "/CN=system:kube-proxy"
        # kube-router reads pods, namespaces, nodes and NetworkPolicies cluster-wide;
        # its ClusterRole is bound to this user in cluster/node/addons.yaml.
        pki_cert kube-router "/CN=platform:kube-router"
        openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
        openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    )
    local inside=https://$NODE_IP:6443 c
    for c in controller-manager scheduler kubelet kube-proxy kube-router admin; do
        pki_kubeconfig "$PKI/$c.kubeconfig" "$c" "$inside"
    done
}
