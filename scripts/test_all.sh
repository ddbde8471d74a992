#!/usr/bin/env bash
# `make test`: the static gates and the schemathesis module run beside the xdist suite.
#
# The suite's workers wait on servers, Ray and subprocesses part of the time; the static gates
# (mypy: ~37 s of one core on a fresh clone) and the fuzzing module (a real server, ~25 s of
# CPU) use those moments instead of running after it. Their output is printed after
# the suite's; the exit status fails if any of the three failed.
# Usage: scripts/test_all.sh BIN FUZZ [pytest-xdist options...]
set -uo pipefail
bin=$1 fuzz=$2
shift 2
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

make --no-print-directory static >"$logs/static.log" 2>&1 &
static=$!
# schemathesis' parametrized operations collapse to one item inside an xdist worker: the fuzzing
# module runs in its own plain process.
"$bin/pytest" -p no:xdist "$fuzz" >"$logs/fuzz.log" 2>&1 &
fuzzing=$!
"$bin/pytest" "$@" --ignore="$fuzz"
suite_rc=$?
wait "$static"
static_rc=$?
wait "$fuzzing"
fuzz_rc=$?

echo "---------- static gates (ruff, mypy, import layers, nb-clean): exit $static_rc"
cat "$logs/static.log"
echo "---------- API fuzzing ($fuzz): exit $fuzz_rc"
if [ "$fuzz_rc" = 0 ]; then tail -n 20 "$logs/fuzz.log"; else cat "$logs/fuzz.log"; fi
echo "---------- make test: suite exit $suite_rc, static gates exit $static_rc, fuzzing exit $fuzz_rc"
[ "$suite_rc" = 0 ] && [ "$static_rc" = 0 ] && [ "$fuzz_rc" = 0 ]
