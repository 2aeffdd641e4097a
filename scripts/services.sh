# Sourced by `make test`: makes sure PostgreSQL and Redis answer, and exports the URLs the tests read.
# Uses the machine's own servers when they run (127.0.0.1:5432 / :6379); otherwise starts a throwaway pair on
# other ports (RECIPES.md). Where neither is possible the tests that need them skip with a clear reason.
D=${SCRIBE_SERVICES_DIR:-/tmp/scribe-services}
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  export SCRIBE_TEST_POSTGRES_URL=${SCRIBE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
  psql -h 127.0.0.1 -U postgres -lqt 2>/dev/null | cut -d'|' -f1 | grep -qw test \
    || createdb -h 127.0.0.1 -U postgres test 2>/dev/null || true
else
  PGPORT=55432
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$PGBIN" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 || true
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
  if [ -n "$PGBIN" ]; then
    if [ ! -f $D/pg/PG_VERSION ]; then
      install -d -o postgres -g postgres $D/pg
      runuser -u postgres -- $PGBIN/initdb -D $D/pg -A trust -U postgres --no-sync >/dev/null
    fi
    pg_isready -q -h 127.0.0.1 -p $PGPORT || runuser -u postgres -- $PGBIN/pg_ctl -D $D/pg -l $D/pg/log -w start \
      -o "-p $PGPORT -k $D/pg -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null
    createdb -h 127.0.0.1 -p $PGPORT -U postgres test 2>/dev/null || true
    export SCRIBE_TEST_POSTGRES_URL=${SCRIBE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:$PGPORT/test}
  fi
fi
if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  export SCRIBE_TEST_REDIS_URL=${SCRIBE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
else
  RPORT=56379
  if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1 || true
  fi
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p $D
    redis-cli -p $RPORT ping >/dev/null 2>&1 || redis-server --port $RPORT --bind 127.0.0.1 --daemonize yes \
      --save '' --appendonly no --dir $D >/dev/null
    export SCRIBE_TEST_REDIS_URL=${SCRIBE_TEST_REDIS_URL:-redis://127.0.0.1:$RPORT/0}
  fi
fi
true
