#!/usr/bin/env bash
# The GPU checks of issue 29 as one command for a lent GPU (15 minutes of device time a session): whether the
# stack runs (check-gpu), the CUDA tests on the real GPU, the training-step table eager and compiled, and the
# dead-leaves rendering table with its CUDA row. Each step's output goes to a file under $OUT (5 files; the
# device tool brings back 8 at most), and a failing step does not stop the next.
#
# Prepared here (the H200 has no network and lacks these packages):
#   EXTRA="tabulate pytest pluggy iniconfig lpips" ../shared/gpu/prepare.sh
# then, on the device, from the repository root (carry .device):
#   <the install line prepare.sh prints> && bash benchmarks/gpu_session.sh
# On a CPU it runs too (check-gpu says no GPU; the tables are the CPU's), shortened:
#   OUT=gpu_session CONFIGS=quick STEPS=1 WARMUP=0 PYTHON=.venv/bin/python bash benchmarks/gpu_session.sh
set -uo pipefail
out=${OUT:?"set OUT to the folder for the results (the device tool sets it)"}
steps=${STEPS:-20}
warmup=${WARMUP:-5}
configs=${CONFIGS:-quick width32 paper}
mkdir -p "$out"
py=${PYTHON:-python3}
$py -m rstor_core check-gpu 2>&1 | tee "$out/check_gpu.txt"
$py -m pytest -q -p no:cacheprovider tests/test_deadleaves_cuda.py tests/test_gpu_check.py 2>&1 | tee "$out/cuda_tests.txt"
# shellcheck disable=SC2086  # the configurations are words
$py benchmarks/gpu_train.py --configs $configs --steps "$steps" --warmup "$warmup" 2>&1 | tee "$out/gpu_train.txt"
# shellcheck disable=SC2086
$py benchmarks/gpu_train.py --configs $configs --steps "$steps" --warmup "$((warmup * 2))" --compile --channels-last 2>&1 \
  | tee "$out/gpu_train_compiled.txt"
$py benchmarks/deadleaves.py --skip-e2e --sizes 256 512 --batch 16 --repeats 5 --scaling-sizes 256 \
  --leaf-factors 1 2>&1 | tee "$out/deadleaves.txt"
