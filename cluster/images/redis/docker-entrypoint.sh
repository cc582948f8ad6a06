#!/bin/sh
# /usr/local/bin/docker-entrypoint.sh of the Redis image built here
# (cluster/images/build.py), written from the docker-library contract in
# docs/images.md: a first argument that is an option or a `.conf` file is given to
# redis-server; as root, redis-server gets the working directory and runs as
# `redis` (setpriv); a umask of 0022 becomes 0077, so dumps are private.
set -e

case $1 in
-* | *.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$(umask)" = 0022 ]; then
	umask 0077
fi

exec "$@"
