# cluster/checkout.sh: the default local cluster name of this checkout, sourced by
# up.sh and down.sh. Named for the checkout's path (as the Makefile's CHECKOUT_ID),
# so two checkouts on one machine never share a cluster, and so never each other's
# objects: each has its own state (.state/backend) and its own cluster.
# shellcheck shell=bash
DEFAULT_CLUSTER_NAME=platform-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
