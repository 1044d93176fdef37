#!/usr/bin/env bash
# One prepared call on a lent GPU (the library's `run` tool): the device tests, the step benchmark
# against its floor, then the paper-scale runs, chain first, each as far as the time budget allows.
# Everything lands in a work folder packed at the end into $OUT/device_out.tar.gz (the tool brings back at most
# 8 files): environment.txt, tests.log, bench_device.json and .log, paper/NAME/result.json and NAME.log; and
# $OUT/summary.txt beside it (printed last).
#
#   run: bash scripts/device_run.sh                      (on the device machine, its python3)
#   here: DEVICE=cpu SCALE=test PYTHON=.venv/bin/python bash scripts/device_run.sh /tmp/device_try
#
# DEVICE (cuda), SCALE (paper), RUNS (the order below), BUDGET_S (seconds from the start after which
# no run starts and a running one is stopped; 480 by default, leaving room in a 600 s call), TESTS (the pytest
# arguments), BENCH_ARGS (e.g. --quick), SEEDS ("NAME N": N seeds of NAME as one stacked run, after RUNS).
set -u
DEST=${1:-${OUT:-/tmp/device_out}}
OUT=$(mktemp -d)
DEVICE=${DEVICE:-cuda}
SCALE=${SCALE:-paper}
RUNS=${RUNS:-chain icl random standard multiparent forests}
BUDGET_S=${BUDGET_S:-480}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" CI=true MPLBACKEND=Agg
mkdir -p "$OUT/paper"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
summary="$OUT/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }

{ nvidia-smi 2>&1 || echo "no nvidia-smi"; git rev-parse HEAD 2>/dev/null || true
  "$PY" -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; } > "$OUT/environment.txt" 2>&1
note "device: $(tail -1 "$OUT/environment.txt")"

TESTS=${TESTS:-tests/test_device.py tests/test_device_step.py tests/test_tasks.py::test_the_sampler_runs_on_the_gpu_and_follows_its_laws}
# shellcheck disable=SC2086
CAUSAL_TUTORIAL_TEST_DEVICE=$DEVICE "$PY" -m pytest -q -p no:cacheprovider $TESTS > "$OUT/tests.log" 2>&1
note "tests (rc $?, $(elapsed) s): $(tail -1 "$OUT/tests.log")"

# shellcheck disable=SC2086
"$PY" benchmarks/bench_device.py --device "$DEVICE" ${BENCH_ARGS:-} --out "$OUT/bench_device.json" > "$OUT/bench_device.log" 2>&1
note "benchmark (rc $?, $(elapsed) s):"
grep -v "^USDT\|^wrote" "$OUT/bench_device.log" | tail -30 >> "$summary"

for NAME in $RUNS; do
  left=$(( BUDGET_S - $(elapsed) ))
  if [ "$left" -lt 20 ]; then note "$NAME: not started ($left s of the budget left)"; continue; fi
  timeout "$left" "$PY" -m causal_tutorial run "$NAME" --scale "$SCALE" --device "$DEVICE" --seed 0 \
    --out "$OUT/paper" --resume --no-figures > "$OUT/$NAME.log" 2>&1
  rc=$?
  if [ -f "$OUT/paper/$NAME/result.json" ]; then
    note "$NAME (rc $rc, $(elapsed) s): $("$PY" -c "import json; r = json.load(open('$OUT/paper/$NAME/result.json'))
f, b = r['final'], r.get('baselines', {})
train = r.get('train_time_s', sum(g.get('train_time_s', 0) for g in r.get('graphs', [])))
line = f\"wall {r['wall_time_s']:.0f} s (training {train:.0f} s), final {f.get('test_loss', f.get('test_loss_mean')):.4f}\"
print(line + (f\", estimator {b['estimator']:.4f}\" if 'estimator' in b else ''))")"
  else
    note "$NAME (rc $rc, $(elapsed) s): no result (stopped at the budget or failed; see $NAME.log)"
  fi
done
# Many seeds of one experiment as one stacked run (SEEDS="chain 16"), if the budget allows.
if [ -n "${SEEDS:-}" ]; then
  set -- $SEEDS
  left=$(( BUDGET_S - $(elapsed) ))
  if [ "$left" -lt 20 ]; then note "$1 x $2 seeds: not started ($left s of the budget left)"; else
    timeout "$left" "$PY" -m causal_tutorial run "$1" --scale "$SCALE" --device "$DEVICE" --seed 0 --seeds "$2" \
      --out "$OUT/seeds" --resume --no-figures > "$OUT/seeds_$1.log" 2>&1
    note "$1 x $2 seeds (rc $?, $(elapsed) s): $(tail -6 "$OUT/seeds_$1.log" | tr '\n' ' ')"
  fi
fi
rm -f "$OUT"/paper/*/checkpoint*.pt "$OUT"/seeds/*/checkpoint*.pt  # partial state, not a result
mkdir -p "$DEST"
tar czf "$DEST/device_out.tar.gz" -C "$OUT" .
cp "$summary" "$DEST/summary.txt"
echo "packed $(tar tzf "$DEST/device_out.tar.gz" | wc -l) entries into $DEST/device_out.tar.gz"
cat "$summary"
