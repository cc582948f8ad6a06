#!/bin/sh
# /entrypoint.sh of the Traefik image built here (cluster/images/build.py), as the
# library image's contract in docs/images.md: flags alone start traefik, a Traefik
# subcommand runs through traefik, anything else runs as a command.
set -e

case $1 in
-*) set -- traefik "$@" ;;
traefik) ;;
*)
	if traefik "$1" --help >/dev/null 2>&1; then
		set -- traefik "$@"
	fi
	;;
esac

exec "$@"
