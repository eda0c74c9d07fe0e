# Shell functions of the bench scripts that run lienthong on PostgreSQL (sourced, not run): a
# schema of their own on the server, and stopping the processes they started.

# Creates schema NAME on SERVER (a postgres:// URL) and prints the store URL that uses it.
pg_schema_create() { # server name
    psql -q "$1" -c "CREATE SCHEMA $2" >/dev/null || return 1
    local sep="?"
    [[ "$1" == *\?* ]] && sep="&"
    echo "${1}${sep}options=-c%20search_path%3D$2"
}

# Drops schema NAME on SERVER and everything in it; nothing when NAME is empty.
pg_schema_drop() { # server name
    [[ -n "$2" ]] || return 0
    PGOPTIONS="--client-min-messages=warning" psql -q "$1" \
        -c "DROP SCHEMA IF EXISTS $2 CASCADE" >/dev/null || true
}

# Stops (SIGTERM, then waits for) each running process of the given ids.
stop_pids() { # pid...
    local pid
    for pid in "$@"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}
