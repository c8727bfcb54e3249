# A PostgreSQL server of the benchmarks' own, sourced by them (not run): Debian's newest,
# in a temporary folder `$work` (which the caller made), on loopback port `$port`, role
# `accord` with password `$password`, with the settings in `$pg_settings`; stopped and
# the folder removed when the script exits. As `postgres` when run as root (initdb
# refuses root). Defines `sql` (psql as accord), `server_cpu`, `stop_server` and
# `$work/journal-password`.
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# Stops the server and removes the folder, at exit (a script that starts more adds to
# it), also when the server did not start.
stop_server() {
  as_pg "$bin/pg_ctl" -D "$work/pgdata" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop_server EXIT
echo "$password" > "$work/pwfile"
[ "$(id -u)" = 0 ] && chown -R postgres "$work"
as_pg "$bin/initdb" -D "$work/pgdata" -U accord --auth=scram-sha-256 --pwfile "$work/pwfile" >/dev/null
as_pg "$bin/pg_ctl" -D "$work/pgdata" -l "$work/pg.log" -w \
  -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work $pg_settings" start >/dev/null
echo "$password" > "$work/journal-password"
sql() { PGPASSWORD=$password psql -q -h 127.0.0.1 -p "$port" -U accord "$@"; }

# The server's CPU seconds so far: the postmaster's, its children's that have ended (a
# client's backend ends with its connection) and those still running (the WAL writer,
# the checkpointer).
server_cpu() {
  local pm
  pm=$(head -1 "$work/pgdata/postmaster.pid")
  { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
    for c in $(pgrep -P "$pm"); do awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true; done
  } | awk '{ t += $1 } END { printf "%.2f", t / 100 }'
}
