#!/usr/bin/env bash
# Runs the whole test suite against a second engine: FerretDB v2 on PostgreSQL
# with the DocumentDB extension, started from the pm-docdb kit (it builds the
# engine from Debian's packages and source archives it carries) and stopped
# afterwards. PM_DOCDB_KIT names the kit's pm-docdb script; by default it is
# looked for beside this repository's checkout.
#
#   scripts/test-documentdb.sh [go test arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
kit="${PM_DOCDB_KIT:-../shared/backends/documentdb/pm-docdb}"
if [ ! -x "$kit" ] && [ ! -f "$kit" ]; then
  echo "test-documentdb: the pm-docdb kit is not at $kit; set PM_DOCDB_KIT to its pm-docdb script" >&2
  exit 1
fi

# A free port pair (the engine listens on PORT, PostgreSQL on PORT+1).
port=""
for p in $(seq 27400 2 27600); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
    port=$p
    break
  fi
done
[ -n "$port" ] || { echo "test-documentdb: no free port pair in 27400-27601" >&2; exit 1; }

dir=$(mktemp -d /tmp/pm-docdb-test.XXXXXX)
stop() {
  bash "$kit" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

bash "$kit" install
uri=$(bash "$kit" start "$dir" "$port")
echo "test-documentdb: engine at $uri" >&2
export PM_TEST_MONGODB_URI="$uri"

go=${GO:-go}
if [ $# -gt 0 ]; then
  "$go" test "$@"
  exit
fi
# The race detector runs in make test on the embedded engine; here the same
# tests run once more without it (so the differential test of the when
# compiler runs on its full data set) against the second engine, followed by
# one pass of each benchmark.
"$go" test -count=1 -timeout 30m ./...
"$go" test -run '^$' -bench . -benchtime 1x -timeout 20m ./...
