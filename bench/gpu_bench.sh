#!/usr/bin/env bash
# One prepared GPU run for issue #18 (under 8 minutes of GPU time on an H100/H200):
#   1. profiles two registry models (one 8B) with the eager and the optimized torch stacks,
#      with per-request energy from NVML's counter;
#   2. compares them with our simulated h100-trtllm / h200-trtllm tables (bench/gpu_compare.py);
#   3. runs the contention bench (bench/denoise_contention.py --load bursty) on the GPU when
#      crfm-helm can be imported there.
# It writes one JSON to $OUT (the device tool's folder; default bench/data/gpu).
#
#   bash bench/gpu_bench.sh            # on the GPU machine, e.g. through the device tool
#   bash bench/gpu_bench.sh --smoke    # the same steps on this CPU with a tiny model (CI runs it)
#
# The GPU machine has torch, transformers and statsmodels, not this package or NVML's Python
# binding: this package is installed from the working tree without dependencies, and
# nvidia-ml-py (and crfm-helm, if present) from wheels carried in bench/gpu_wheels, which
# `pip download nvidia-ml-py -d bench/gpu_wheels` prepares here.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/data/gpu}"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
PY="${PYTHON:-python}"  # the interpreter to use (the tests pass their own)
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1

if [ "$SMOKE" = 0 ]; then
  if [ -d bench/gpu_wheels ]; then
    "$PY" -m pip install -q --no-index --find-links bench/gpu_wheels nvidia-ml-py || echo "nvidia-ml-py not installed: no energy column"
    "$PY" -m pip install -q --no-index --find-links bench/gpu_wheels crfm-helm 2>/dev/null || echo "crfm-helm not installed: the contention bench is skipped"
  fi
  "$PY" -c "import helm_efficiency" 2>/dev/null || "$PY" -m pip install -q --no-deps -e .
  DEVICE=cuda DTYPE=bf16 PROMPTS=1,128,512,1024,2048 OUTPUTS=1,16,64 REPEATS=3 BUDGET=75
  MODELS="meta/llama-3.2-1b-instruct meta/llama-3.1-8b"
  NAME="$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0).replace(" ", "_"))')"
else
  DEVICE=cpu DTYPE=fp32 PROMPTS=1,16 OUTPUTS=1,4 REPEATS=2 BUDGET=30
  MODELS="test/tiny-llama"
  NAME="cpu_smoke"
fi

for model in $MODELS; do
  for stack in eager optimized; do
    echo "== profiling $model, $stack stack, on $DEVICE"
    "$PY" -m helm_efficiency.cli profile --arch "$model" --device "$DEVICE" --dtype "$DTYPE" --stack "$stack" --energy \
      --prompts "$PROMPTS" --outputs "$OUTPUTS" --repeats "$REPEATS" --warmup 1 --max-seconds "$BUDGET" \
      -o "$WORK/$(echo "$model" | tr '/' '_')_$stack.csv"
  done
done

EXTRA=()
if [ "$SMOKE" = 0 ] && "$PY" -c "import helm" 2>/dev/null; then
  echo "== contention bench on the GPU"
  timeout 150 "$PY" bench/denoise_contention.py --load bursty --rounds 4 --timings-out "$OUT/contention_timings.csv" \
    > "$WORK/contention.txt" 2>&1 || echo "contention bench failed or timed out (see the JSON)"
  EXTRA=(--extra "contention=$WORK/contention.txt")
fi

"$PY" bench/gpu_compare.py "$WORK"/*.csv --json "$OUT/${NAME}_$(date -u +%Y%m%dT%H%M%SZ).json" "${EXTRA[@]}"
