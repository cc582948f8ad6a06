#!/usr/bin/env bash
# cluster/node/in-cgroup.sh CMD...: run CMD in the node's cgroup ($NAME/node in each
# of $CGROUP_HIERARCHIES, from common.sh), so cluster/node/down.sh finds and stops
# it, and everything it starts, with the rest of the node.
set -euo pipefail
: "${NAME:?}" "${CGROUP_HIERARCHIES:?}"
for h in $CGROUP_HIERARCHIES; do echo $$ >"/sys/fs/cgroup/$h/$NAME/node/cgroup.procs"; done
exec "$@"
