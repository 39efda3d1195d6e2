#!/usr/bin/env bash
# The GPU check: run on a machine with a CUDA GPU, from the repository root, in about 10 minutes.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # default OUT_DIR: build/gpu_check
#
# 1. the CUDA-marked tests (tests/test_cuda.py: the loop in bf16/fp16/fp32, CUDA RNG in
#    checkpoints, models, samplers, metrics, features, DRR and tiled 3-D prediction on the GPU);
# 2. notebooks 04 and 05 in lab mode with DEVICE="cuda" (times and peaks for their runtime tables);
# 3. the speed benchmarks on the GPU: every model's training step, MFU and channels-last ratio,
#    torch.compile against eager for three families, the diffusion U-Net against MONAI in fp32
#    and bf16, and 2-D vs 3-D Pix2Pix up to 128³;
# 4. the 3-D lab example on the GPU at its CPU setting, for the time ratio.
# Each part writes its log to OUT_DIR; a failing part is reported and the others still run.
set -uo pipefail
OUT="${1:-build/gpu_check}"
mkdir -p "$OUT"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
status=0
part() {  # part NAME TIMEOUT_S COMMAND...
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  echo "== $name" | tee -a "$OUT/summary.txt"
  if timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; then
    echo "   ok in $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
  else
    echo "   FAILED (exit $?) after $((SECONDS - start)) s; see $OUT/$name.log" | tee -a "$OUT/summary.txt"
    status=1
  fi
}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.__version__, torch.cuda.get_device_name(0))" \
  | tee "$OUT/summary.txt" || exit 2
"$PY" -c "import monai" 2>/dev/null || "$PY" -m pip install --quiet -e ".[bench]" || true

part cuda_tests 180 "$PY" -m pytest -q -m cuda tests/test_cuda.py
part notebooks_gpu 240 "$PY" -m medgen_nb.course --out "$OUT/notebooks" --only 04 05 --device cuda
part bench_models 150 "$PY" benchmarks/bench_models.py --device cuda --seconds 2 --repeats 2 --channels-last
part bench_compile 150 "$PY" benchmarks/bench_models.py --device cuda --seconds 2 --repeats 2 \
  --models pix2pix ddpm pix2pix3d --compile --skip-mfu --skip-bf16
part bench_vs_monai 60 "$PY" benchmarks/bench_vs_monai.py --device cuda --batch 64 --seconds 2 --repeats 2
part bench_2d_vs_3d 60 "$PY" benchmarks/bench_2d_vs_3d.py --device cuda --sides 32 64 128
part lab_3d_gpu 60 "$PY" -m medgen_nb.train_cli --task brain_t1w_to_t2w_3d --model pix2pix3d \
  --model-arg depth=4 --steps 1000 --batch-size 8 --device cuda --out "$OUT/lab_3d" --evaluate
tail -n 20 "$OUT"/*.log > "$OUT/tails.txt" 2>/dev/null
exit $status
