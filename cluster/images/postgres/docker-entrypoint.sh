#!/bin/bash
# /usr/local/bin/docker-entrypoint.sh of the PostgreSQL images built here
# (cluster/images/build.py). Written from the docker-library contract in
# docs/images.md, so pods meet the same behaviour as with the upstream images:
#
# - a first argument starting with `-` is an option of `postgres`;
# - as root: the data and socket directories are given to `postgres`, then the
#   script runs again as that user (setpriv);
# - on an empty $PGDATA (no PG_VERSION): initdb as the current UID (nss_wrapper
#   lends a passwd entry to a UID without one), `host all all all <method>` appended
#   to pg_hba.conf, a temporary server on the socket only, POSTGRES_DB created,
#   /docker-entrypoint-initdb.d/* run in name order (*.sh executed or sourced, *.sql
#   and compressed *.sql through psql with ON_ERROR_STOP), the server stopped;
# - then `exec "$@"` (CMD ["postgres"]).
# POSTGRES_PASSWORD, _USER, _DB and _INITDB_ARGS may each be given as <NAME>_FILE.
set -Eeo pipefail

INITDB_DIR=/docker-entrypoint-initdb.d
SOCKET_DIR=/var/run/postgresql
NSS_WRAPPER_LIB=/usr/lib/x86_64-linux-gnu/libnss_wrapper.so

say() { printf '%s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# from_env_or_file NAME [DEFAULT]: NAME, or the contents of the file NAME_FILE names.
from_env_or_file() {
	local name=$1 fallback=${2:-} file_name="${1}_FILE" value
	if [[ -n ${!name:-} && -n ${!file_name:-} ]]; then
		fail "both $name and $file_name are set; set only one"
	fi
	value=$fallback
	if [[ -n ${!name:-} ]]; then
		value=${!name}
	elif [[ -n ${!file_name:-} ]]; then
		value=$(<"${!file_name}")
	fi
	export "$name=$value"
	unset "$file_name"
}

read_settings() {
	from_env_or_file POSTGRES_PASSWORD
	from_env_or_file POSTGRES_USER postgres
	from_env_or_file POSTGRES_DB "$POSTGRES_USER"
	from_env_or_file POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	: "${PGDATA:=/var/lib/postgresql/data}"
	export PGDATA
}

# Failures are ignored: under a non-root UID the directories may belong to someone
# else (a volume), and the server itself reports what it cannot use.
prepare_directories() {
	mkdir -p "$PGDATA" 2>/dev/null || :
	chmod 00700 "$PGDATA" 2>/dev/null || :
	mkdir -p "$SOCKET_DIR" 2>/dev/null || :
	chmod 03775 "$SOCKET_DIR" 2>/dev/null || :
	if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR" 2>/dev/null || :
		chmod 00700 "$POSTGRES_INITDB_WALDIR" 2>/dev/null || :
	fi
	if [[ $(id -u) == 0 ]]; then
		find "$PGDATA" "$SOCKET_DIR" ${POSTGRES_INITDB_WALDIR:+"$POSTGRES_INITDB_WALDIR"} \
			\! -user postgres -exec chown postgres: '{}' +
	fi
}

require_password() {
	if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
		fail "the database is uninitialized and no superuser password is set.
       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value for the
       superuser. To allow every connection without a password instead (never do
       this beyond a test), set POSTGRES_HOST_AUTH_METHOD=trust."
	fi
}

# initdb looks the user up by UID; a UID without a passwd entry (a pod's runAsUser)
# borrows one from nss_wrapper for that call only.
run_initdb() {
	local wrapped=()
	if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
		local passwd group
		passwd=$(mktemp) group=$(mktemp)
		printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" >"$passwd"
		printf 'postgres:x:%s:\n' "$(id -g)" >"$group"
		wrapped=(env "LD_PRELOAD=$NSS_WRAPPER_LIB" "NSS_WRAPPER_PASSWD=$passwd" "NSS_WRAPPER_GROUP=$group")
	fi
	local waldir=()
	[[ -z ${POSTGRES_INITDB_WALDIR:-} ]] || waldir=(--waldir "$POSTGRES_INITDB_WALDIR")
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments
	"${wrapped[@]}" initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		"${waldir[@]}" $POSTGRES_INITDB_ARGS
	if ((${#wrapped[@]})); then
		rm -f "${wrapped[2]#NSS_WRAPPER_PASSWD=}" "${wrapped[3]#NSS_WRAPPER_GROUP=}"
	fi
}

allow_remote_logins() {
	local method=$POSTGRES_HOST_AUTH_METHOD
	[[ -n $method ]] || method=$(postgres -C password_encryption)
	printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
}

# psql over the socket as the superuser; local connections are trusted by initdb.
socket_psql() {
	psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

start_socket_only_server() {
	PGUSER=${PGUSER:-$POSTGRES_USER} pg_ctl -D "$PGDATA" -w \
		-o "-c listen_addresses='' -p ${PGPORT:-5432}" start
}

stop_server() {
	PGUSER=${PGUSER:-$POSTGRES_USER} pg_ctl -D "$PGDATA" -m fast -w stop
}

create_database() {
	[[ $POSTGRES_DB != postgres ]] || return 0
	local exists
	exists=$(socket_psql --dbname postgres --set db="$POSTGRES_DB" --tuples-only \
		<<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
	[[ -n ${exists//[[:space:]]/} ]] || socket_psql --dbname postgres --set db="$POSTGRES_DB" \
		<<<'CREATE DATABASE :"db";'
	say "created database $POSTGRES_DB"
}

run_init_scripts() {
	local file
	for file in "$INITDB_DIR"/*; do
		[[ -e $file ]] || continue
		case $file in
		*.sh)
			if [[ -x $file ]]; then
				say "running $file"
				"$file"
			else
				say "sourcing $file"
				# shellcheck disable=SC1090 # the scripts are the user's
				. "$file"
			fi
			;;
		*.sql) say "running $file" && socket_psql --dbname "$POSTGRES_DB" -f "$file" ;;
		*.sql.gz) say "running $file" && gzip -dc "$file" | socket_psql --dbname "$POSTGRES_DB" ;;
		*.sql.xz) say "running $file" && xz -dc "$file" | socket_psql --dbname "$POSTGRES_DB" ;;
		*.sql.zst) say "running $file" && zstd -dc "$file" | socket_psql --dbname "$POSTGRES_DB" ;;
		*) say "ignoring $file" ;;
		esac
	done
}

is_server_command() {
	[[ $1 == postgres ]] || return 1
	local arg
	for arg in "${@:2}"; do
		case $arg in -'?' | --help | --describe-config | -V | --version | -C) return 1 ;; esac
	done
}

main() {
	[[ ${1:-} != -* ]] || set -- postgres "$@"
	if ! is_server_command "$@"; then
		exec "$@"
	fi
	read_settings
	prepare_directories
	if [[ $(id -u) == 0 ]]; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
	fi
	if [[ -s $PGDATA/PG_VERSION ]]; then
		say "PostgreSQL Database directory appears to contain a database; Skipping initialization"
	else
		require_password
		run_initdb
		allow_remote_logins
		start_socket_only_server
		create_database
		run_init_scripts
		stop_server
		say "PostgreSQL init process complete; ready for start up."
	fi
	exec "$@"
}

main "$@"
