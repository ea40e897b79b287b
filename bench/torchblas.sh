# Sourced by the benchmarks: the environment the PyTorch references run in,
# and the machine's sgemm peak.
#
# OpenBLAS picks its kernels by CPU model when it loads; OPENBLAS_CORETYPE
# (with OPENBLAS_L2_SIZE) overrides that. Some machines set it to an older
# core for safety (here: Haswell, its 256-bit kernels, about half the
# arithmetic of this CPU's 512-bit units). A reference held to that would
# flatter thinkrl, whose own product does not go through OpenBLAS, so by
# default the references run with both variables removed (OpenBLAS detects
# the CPU itself) and every reference line names the kernel it ran on.
# BENCH_TORCH_BLAS=env keeps the environment as it is. The training benchmark
# runs PyTorch both ways and checks that they agree on the first loss.
torch_env() {
  if [ "${BENCH_TORCH_BLAS:-detect}" = env ]; then "$@"; else env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; fi
}

# sgemm_peak BUILD THREADS: prints "PEAK DESCRIPTION", PEAK the best GFLOP/s
# of 2048^3 over OpenBLAS as the environment has it, OpenBLAS detecting the
# CPU, and thinkrl's own product.
sgemm_peak() {
  local a b
  a=$("$1/bench/bench_train" --sgemm-peak --threads "$2")
  b=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$1/bench/bench_train" --sgemm-peak --threads "$2")
  python3 - "$a" "$b" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
runs = [("OpenBLAS " + a["openblas_core"], a["openblas"]), ("OpenBLAS " + b["openblas_core"], b["openblas"]),
        ("thinkrl tr_sgemm", max(a["thinkrl"], b["thinkrl"]))]
best = max(r[1] for r in runs)
print("%.2f %s" % (best, ", ".join("%s %.1f" % r for r in runs)))
PY
}
