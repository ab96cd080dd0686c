#!/usr/bin/env bash
# Benchmarks on demand: builds release, starts `kttipay serve` on its own database
# and Redis prefix, runs the measurements, prints a table, cleans up.
#   bench/run.sh                 everything
#   BENCH_ONLY=money bench/run.sh  only some parts: http, jobs, reads, money, groups, closure, splits, notify (comma-separated)
# Needs PostgreSQL and Redis on their default ports, wrk and ImageMagick (installed if
# missing), and Tesseract (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v convert >/dev/null || { apt-get update -qq && apt-get install -y -qq imagemagick fonts-dejavu-core; }
cargo build --release -p kttipay -p kttipay-bench

PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
export BENCH_DATABASE_URL="$PG/kttipay_bench"
export BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
export BENCH_BASE_URL=http://127.0.0.1:18180
export BENCH_SANDBOX_URL=http://127.0.0.1:18181
export BENCH_SANDBOX_TOKEN=kttipay-sandbox-token
# Jobs at once per queue, in the server's workers and in the raw apalis baseline.
export KTTIPAY_WORKER_CONCURRENCY=${BENCH_WORKER_CONCURRENCY:-256}
# Uploads (receipts) of this run only, removed with it.
export KTTIPAY_DATA_DIR=${TMPDIR:-/tmp}/kttipay-bench-data-$$
for db in kttipay_bench kttipay_bench_sandbox; do
  psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done

# Pushes go to the bench's FCM stand-in (kttipay_sandbox::fcm) with the test
# service account; the chat bench holds 1,000 streams open (two sockets each).
ulimit -n 65536 2>/dev/null || true
FCM_CREDENTIALS_JSON=$(python3 -c 'import json; print(json.dumps({"type": "service_account", "project_id": "kttipay-test", "client_email": "push@kttipay-test.iam.gserviceaccount.com", "private_key": open("tests/fixtures/fcm_rsa_private.pem").read()}))')
export FCM_CREDENTIALS_JSON FCM_ENDPOINT=http://127.0.0.1:18182 FCM_TOKEN_URL=http://127.0.0.1:18182/token
DATABASE_URL=$BENCH_DATABASE_URL REDIS_URL=$BENCH_REDIS_URL KTTIPAY_HTTP_ADDR=127.0.0.1:18180 \
KTTIPAY_QUEUE_PREFIX=kttipay-bench-$$ KTTIPAY_SANDBOX_ADDR=127.0.0.1:18181 KTTIPAY_SANDBOX_KYC_DELAY_MS=0 \
SHAYPE_API_TOKEN=$BENCH_SANDBOX_TOKEN KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_ACCOUNT=100000000 \
KTTIPAY_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP=100000000 KTTIPAY_DB_MAX_CONNECTIONS=32 \
KTTIPAY_WORKER_CONCURRENCY=$KTTIPAY_WORKER_CONCURRENCY RUST_LOG=warn KTTIPAY_JOINS_PER_HOUR=100000 KTTIPAY_GROUP_KTTIES_PER_USER=1000 \
KTTIPAY_BILLING_PLANS="free:Free:0.00:month:5;crowd:Crowd:0.00:month:1000;paid:Paid:4.99:month:10" \
  target/release/kttipay serve > /tmp/kttipay-bench-serve.log 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null || true; rm -rf "$KTTIPAY_DATA_DIR"' EXIT
for _ in $(seq 1 100); do curl -sf $BENCH_BASE_URL/health/ready >/dev/null && break; sleep 0.2; done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%F)"
BENCH_SERVER_PID=$SERVE target/release/kttipay-bench
