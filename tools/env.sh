# tools/env.sh: put the pinned toolchain (built by tools/bootstrap.sh) first on
# PATH and set the Pulumi environment. Source it, from any directory:
#
#   . tools/env.sh            # bash, zsh (any cwd); POSIX sh from the repo root
#
# Quiet and cheap: no subprocesses beyond one `cd`/`pwd` (and, once per checkout,
# the `mkdir` and `ln` of PULUMI_HOME), no network, no output.
# Exports: PATH, PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK,
# PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION, PLATFORM_TOOLS_CACHE,
# PLATFORM_ROOT, PLATFORM_KUBECONFIG (the local cluster's kubeconfig path;
# KUBECONFIG itself is left alone).
#
# PULUMI_HOME is this checkout's (.state/pulumi-home, made on first use, with a
# link to the plugins that tools/bootstrap.sh installed in the tool cache): what
# the CLI keeps there besides plugins (a `pulumi login`'s credentials, the selected
# stacks, logs) stays with the checkout instead of being shared by every checkout
# on the machine.
# shellcheck shell=sh

# Repo root from this file's own path (bash: BASH_SOURCE, zsh: %x); plain sh
# cannot tell, so it falls back to $PLATFORM_ROOT or the current directory.
if [ -n "${BASH_SOURCE:-}" ]; then
    _pt_self=${BASH_SOURCE}
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    _pt_self=${(%):-%x}
else
    _pt_self=${PLATFORM_ROOT:-.}/tools/env.sh
fi
PLATFORM_ROOT=$(cd "$(dirname "$_pt_self")/.." && pwd)
export PLATFORM_ROOT

if [ ! -f "$PLATFORM_ROOT/tools/versions.env" ]; then
    echo "tools/env.sh: cannot find tools/versions.env under $PLATFORM_ROOT (source it from the repo root, or set PLATFORM_ROOT)" >&2
    unset _pt_self
    return 1 2>/dev/null || exit 1
fi
. "$PLATFORM_ROOT/tools/versions.env"

PLATFORM_TOOLS_CACHE=${PLATFORM_TOOLS_CACHE:-$HOME/.cache/platform-tools}
export PLATFORM_TOOLS_CACHE
export PULUMI_HOME="$PLATFORM_ROOT/.state/pulumi-home"
if [ ! -L "$PULUMI_HOME/plugins" ]; then
    mkdir -p "$PULUMI_HOME" && ln -s "$PLATFORM_TOOLS_CACHE/pulumi-home/plugins" "$PULUMI_HOME/plugins"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PLATFORM_KUBECONFIG="$PLATFORM_ROOT/.state/kubeconfig"

# Prepend each tool directory once (re-sourcing does not grow PATH). Listed in
# reverse priority: the last one ends up first.
for _pt_dir in \
    "$PLATFORM_TOOLS_CACHE/bin/traefik-$TRAEFIK_VERSION" \
    "$PLATFORM_TOOLS_CACHE/bin/actionlint-$ACTIONLINT_VERSION" \
    "$PLATFORM_TOOLS_CACHE/bin/kwok-$KWOK_VERSION" \
    "$PLATFORM_TOOLS_CACHE/bin/etcd-$ETCD_VERSION" \
    "$PLATFORM_TOOLS_CACHE/bin/kubernetes-$KUBE_VERSION" \
    "$PLATFORM_TOOLS_CACHE/bin/pulumi-$PULUMI_VERSION"; do
    case ":$PATH:" in
        *":$_pt_dir:"*) ;;
        *) PATH="$_pt_dir:$PATH" ;;
    esac
done
export PATH
unset _pt_dir _pt_self
