#!/usr/bin/env bash
# The soak, on demand (not in CI): the mixed load (reads, chat, split edits,
# deposits through the bank) at a steady rate against a release `kttipay serve`,
# for BENCH_SOAK_SECS (default 1800), printing per BENCH_SOAK_WINDOW_SECS
# (default 60) each route's p50/p99 and errors and the server's RSS. Fails if any
# request failed or any accepted deposit never showed in the balance.
#   bench/soak.sh
#   BENCH_SOAK_SECS=300 BENCH_SOAK_WINDOW_SECS=30 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_ONLY=soak exec bench/run.sh
