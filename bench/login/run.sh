#!/usr/bin/env bash
# Login throughput: logins per second through claimgate's real /oauth/token
# endpoint against a real MySQL, next to the raw rate of the same bcrypt
# cost-10 verification on the same cores, measured in interleaved rounds of
# the same run. Prints the medians and their ratio (target: >= 0.85).
#
# Then an overload phase: many more concurrent clients than hashing slots,
# to show that served logins keep a bounded p99 and the excess gets 503
# temporarily_unavailable instead of piling up.
#
#   bench/login/run.sh            # needs wrk, the mysql client and MariaDB/MySQL
#   ROUNDS=5 SECONDS_PER_ROUND=5 BENCH_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' bench/login/run.sh
#
# Only loopback addresses are used. Every phase is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-5}
CONNECTIONS=${CONNECTIONS:-8}
OVERLOAD_CONNECTIONS=${OVERLOAD_CONNECTIONS:-64}
PORT=${PORT:-18480}
MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${MYSQL_PORT:-3306}
DB=claimgate_bench
DSN="root@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${DB}"
# bcrypt cost 10 of bench.BenchPassword ("bench-password-0123456789").
HASH='$2a$10$/GauLRC/bw6xG7Y2pQYQyeQe6ehWXSXXIYk3wjX5fHcXHcjyRnRIq'

for tool in wrk mysql go; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt-get install -y wrk mariadb-client)" >&2; exit 2; }
done

work=$(mktemp -d)
server_pid=""
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

sql() { mysql --protocol=tcp -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot "$@"; }
sql -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
sql "$DB" <<SQL
CREATE TABLE users (
	id INT AUTO_INCREMENT PRIMARY KEY,
	email VARCHAR(255) NOT NULL UNIQUE,
	password_hash VARCHAR(255) NOT NULL,
	app_metadata JSON,
	user_metadata JSON
);
INSERT INTO users (email, password_hash, app_metadata, user_metadata)
VALUES ('bench@example.test', '$HASH', '{"roles":["admin","editor"],"org_id":"org_acme"}', '{"city":"Lisbon"}');
SQL

echo "bench: building"
go build -o "$work/claimgate" ./cmd/claimgate
go test -c -o "$work/bench.test" ./bench

cat >"$work/Caddyfile" <<CADDY
{
	admin off
	log {
		level ERROR
	}
	claimgate {
		issuer http://127.0.0.1:${PORT}/
		database {
			dsn "${DSN}"
			user_query "SELECT id AS user_id, email, password_hash, app_metadata, user_metadata FROM users WHERE email = ?"
		}
		client bench {
			secret bench-secret
			audience https://api.bench.test
			grant password
		}
		protection {
			hash_queue_timeout 2s
		}
		claim https://example.test/roles roles
		claim https://example.test/org_id app_metadata.org_id
		claim https://example.test/is_admin \`"admin" in roles\`
	}
}

http://127.0.0.1:${PORT} {
	claimgate_login
}
CADDY

XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
	"$work/claimgate" run --config "$work/Caddyfile" --adapter caddyfile >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
	curl -fs "http://127.0.0.1:${PORT}/.well-known/jwks.json" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:${PORT}/.well-known/jwks.json" >/dev/null || { cat "$work/server.log"; exit 1; }

# One real login first: fail loudly if the setup is wrong.
status=$(curl -s -o "$work/first.json" -w '%{http_code}' "http://127.0.0.1:${PORT}/oauth/token" \
	-d grant_type=password -d client_id=bench -d client_secret=bench-secret \
	-d username=bench@example.test -d password=bench-password-0123456789 -d audience=https://api.bench.test)
[ "$status" = 200 ] || { echo "bench: first login answered $status: $(cat "$work/first.json")"; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

raw_rates=()
gw_rates=()
for round in $(seq 1 "$ROUNDS"); do
	ns=$("$work/bench.test" -test.run '^$' -test.bench '^BenchmarkRawBcrypt10$' \
		-test.benchtime "${SECONDS_PER_ROUND}s" | awk '/^BenchmarkRawBcrypt10/ {print $3}')
	raw=$(awk -v ns="$ns" 'BEGIN {printf "%.1f", 1e9 / ns}')
	gw=$(wrk -t2 --timeout 10s -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" -s bench/login/login.lua \
		"http://127.0.0.1:${PORT}/oauth/token" | awk -F'[ =]' '/^RESULT/ {print $3}')
	raw_rates+=("$raw")
	gw_rates+=("$gw")
	echo "round $round: raw bcrypt-10 ${raw}/s, gateway ${gw} logins/s"
done

raw_median=$(printf '%s\n' "${raw_rates[@]}" | median)
gw_median=$(printf '%s\n' "${gw_rates[@]}" | median)
ratio=$(awk -v g="$gw_median" -v r="$raw_median" 'BEGIN {printf "%.3f", g / r}')
echo "median raw bcrypt-10: ${raw_median}/s; median gateway: ${gw_median} logins/s; ratio ${ratio} (target >= 0.85)"

echo "overload: ${OVERLOAD_CONNECTIONS} connections against $(nproc) hashing slots for ${SECONDS_PER_ROUND}s"
wrk -t2 --timeout 10s -c"$OVERLOAD_CONNECTIONS" -d"${SECONDS_PER_ROUND}s" --latency -s bench/login/login.lua \
	"http://127.0.0.1:${PORT}/oauth/token" 2>/dev/null | grep -E 'RESULT|Latency|99%' || true
echo "(non2xx above are 503 temporarily_unavailable answers: the hashing guard shedding the excess)"
