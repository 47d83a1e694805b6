#!/usr/bin/env bash
# Verify overhead: requests per second through `claimgate_verify` +
# `reverse_proxy` next to a plain `reverse_proxy`, in one claimgate process,
# to the same tiny upstream, measured in interleaved rounds (plain, cached,
# uncached, plain, ...) so that machine noise hits every target alike.
# Prints the medians and the ratios verify/plain (target with the cache:
# >= 0.90). Runs once per signing algorithm (RS256, ES256).
#
#   bench/verify/run.sh                                   # needs wrk, curl, go
#   ROUNDS=5 SECONDS_PER_ROUND=5 CONNECTIONS=32 ALGS="RS256 ES256" bench/verify/run.sh
#
# The token comes from claimgate_login itself, against the embedded demo
# database (alice@example.test). Only loopback addresses are used; every
# phase is bounded in time (about ALGS × ROUNDS × 3 × SECONDS_PER_ROUND).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-5}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ALGS=${ALGS:-"RS256 ES256"}
BASE_PORT=${BASE_PORT:-18580}
AUTH_PORT=$BASE_PORT
CACHED_PORT=$((BASE_PORT + 1))
UNCACHED_PORT=$((BASE_PORT + 2))
PLAIN_PORT=$((BASE_PORT + 3))
UPSTREAM_PORT=$((BASE_PORT + 4))
AUDIENCE=https://api.bench.test

missing=""
for tool in wrk curl go; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "bench: missing:$missing (wrk: apt-get install -y wrk)" >&2
	exit 2
fi

work=$(mktemp -d)
server_pid=""
upstream_pid=""
stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	stop "$server_pid"
	stop "$upstream_pid"
	rm -rf "$work"
}
trap cleanup EXIT

# wait_for URL: up to 30 s for a listener to answer at all.
wait_for() {
	for _ in $(seq 1 300); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}

echo "bench: building"
go build -o "$work/claimgate" ./cmd/claimgate
go build -o "$work/upstream" ./bench/verify/upstream

"$work/upstream" "127.0.0.1:${UPSTREAM_PORT}" >"$work/upstream.log" 2>&1 &
upstream_pid=$!
wait_for "http://127.0.0.1:${UPSTREAM_PORT}/" || { echo "bench: upstream did not start" >&2; cat "$work/upstream.log"; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# rate PORT: requests/s of one wrk round; non-2xx answers make it fail.
rate() {
	local out
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" --timeout 5s \
		-H "Authorization: Bearer $TOKEN" -H "X_User_Id: forged" -H "Connection: keep-alive, X-User-Id" \
		"http://127.0.0.1:$1/orders")
	if grep -q "Non-2xx" <<<"$out"; then
		echo "bench: non-2xx answers from port $1:" >&2
		echo "$out" >&2
		return 1
	fi
	awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

summary=()
for alg in $ALGS; do
	cat >"$work/Caddyfile" <<CADDY
{
	admin off
	log {
		level ERROR
	}
	claimgate {
		issuer http://127.0.0.1:${AUTH_PORT}/
		signing_key ${alg}
		database {
			dsn embedded
			user_query "SELECT id AS user_id, email, password_hash, app_metadata, user_metadata FROM users WHERE email = ?"
			roles_query "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.name"
		}
		client bench {
			secret bench-secret
			audience ${AUDIENCE}
			grant password
		}
		claim https://example.test/roles roles
		claim https://example.test/org_id app_metadata.org_id
	}
}

http://127.0.0.1:${AUTH_PORT} {
	claimgate_login
}

http://127.0.0.1:${CACHED_PORT} {
	claimgate_verify {
		audience ${AUDIENCE}
		header X-User-Id sub
		header X-User-Roles https://example.test/roles
		header X-Org-Id https://example.test/org_id
		header X-Client-Id client_id
	}
	reverse_proxy 127.0.0.1:${UPSTREAM_PORT}
}

http://127.0.0.1:${UNCACHED_PORT} {
	claimgate_verify {
		audience ${AUDIENCE}
		header X-User-Id sub
		header X-User-Roles https://example.test/roles
		header X-Org-Id https://example.test/org_id
		header X-Client-Id client_id
		cache_size 0
	}
	reverse_proxy 127.0.0.1:${UPSTREAM_PORT}
}

http://127.0.0.1:${PLAIN_PORT} {
	reverse_proxy 127.0.0.1:${UPSTREAM_PORT}
}
CADDY

	# A fresh storage per algorithm, so the signing key is generated for it.
	rm -rf "$work/data" "$work/config"
	XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
		"$work/claimgate" run --config "$work/Caddyfile" --adapter caddyfile >"$work/server.log" 2>&1 &
	server_pid=$!
	if ! wait_for "http://127.0.0.1:${AUTH_PORT}/.well-known/jwks.json"; then
		echo "bench: claimgate did not start" >&2
		cat "$work/server.log" >&2
		exit 1
	fi

	status=$(curl -s -o "$work/token.json" -w '%{http_code}' --max-time 30 "http://127.0.0.1:${AUTH_PORT}/oauth/token" \
		-d grant_type=password -d client_id=bench -d client_secret=bench-secret \
		-d username=alice@example.test -d 'password=correct horse battery staple' -d audience="${AUDIENCE}")
	[ "$status" = 200 ] || { echo "bench: login answered $status: $(cat "$work/token.json")" >&2; exit 1; }
	TOKEN=$(sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p' "$work/token.json")
	[ -n "$TOKEN" ] || { echo "bench: no access_token in $(cat "$work/token.json")" >&2; exit 1; }

	# Sanity: the verified identity arrives, the forged one does not, and
	# the verify sites refuse a request without a token.
	for port in "$CACHED_PORT" "$UNCACHED_PORT"; do
		got=$(curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" -H "X_User_Id: forged" \
			-H "Connection: keep-alive, X-User-Id" "http://127.0.0.1:${port}/orders")
		[ "$got" = "user X-User-Id=1" ] || { echo "bench: port $port forwarded '$got', want 'user X-User-Id=1'" >&2; exit 1; }
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${port}/orders")
		[ "$code" = 401 ] || { echo "bench: port $port answered $code without a token, want 401" >&2; exit 1; }
	done

	echo "bench: $alg — $ROUNDS rounds × ${SECONDS_PER_ROUND}s per target, $THREADS threads, $CONNECTIONS connections"
	plain_rates=()
	cached_rates=()
	uncached_rates=()
	for round in $(seq 1 "$ROUNDS"); do
		plain=$(rate "$PLAIN_PORT")
		cached=$(rate "$CACHED_PORT")
		uncached=$(rate "$UNCACHED_PORT")
		plain_rates+=("$plain")
		cached_rates+=("$cached")
		uncached_rates+=("$uncached")
		echo "  round $round: plain $plain/s, verify cached $cached/s, verify uncached $uncached/s"
	done
	stop "$server_pid"
	server_pid=""

	p=$(printf '%s\n' "${plain_rates[@]}" | median)
	c=$(printf '%s\n' "${cached_rates[@]}" | median)
	u=$(printf '%s\n' "${uncached_rates[@]}" | median)
	# Also the median of each round's own ratio: a round's targets run back
	# to back, so this pairs measurements taken under the same machine load.
	paired_c=$(for i in "${!plain_rates[@]}"; do awk -v c="${cached_rates[$i]}" -v p="${plain_rates[$i]}" 'BEGIN {print c / p}'; done | median)
	paired_u=$(for i in "${!plain_rates[@]}"; do awk -v u="${uncached_rates[$i]}" -v p="${plain_rates[$i]}" 'BEGIN {print u / p}'; done | median)
	line=$(awk -v alg="$alg" -v p="$p" -v c="$c" -v u="$u" -v pc="$paired_c" -v pu="$paired_u" 'BEGIN {
		printf "%s: plain %.0f/s, cached %.0f/s (ratio %.3f, per-round median %.3f), uncached %.0f/s (ratio %.3f, per-round median %.3f)", alg, p, c, c / p, pc, u, u / p, pu
	}')
	echo "  median $line"
	summary+=("$line")
done

echo
echo "bench: medians (target: cached ratio >= 0.90)"
printf '  %s\n' "${summary[@]}"
