#!/usr/bin/env bash
# One device-tool call's worth of GPU checks (issues 13 and 24), prepared so that a task lent a GPU
# spends its ~15 minutes of device time measuring, not setting up. Everything lands under $OUT in 8
# files (the device tool brings back 8 at most, two folders down): session.log, tests.xml (the
# tests' JUnit report: counts per backend), fit/{fit.json,table.md,time_per_step.png} and
# ladder/{bench.json,table.md,table.txt}.
#
# On the lent NVIDIA H200 python3 (3.12) already holds torch, JAX and CuPy for CUDA 13, NumPy,
# pytest, hypothesis, scikit-learn, matplotlib, tqdm, optax and threadpoolctl, but not
# array-api-compat nor array-api-strict: carry them as wheels (here, once, from the repository root):
#
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl array-api-compat==1.16.0 array-api-strict==2.6.1
#
# then, through the device tool, with carry [".whl"] and timeout_s 600:
#
#   bash benchmarks/gpu_session.sh
#
# Phases and their limits (seconds; override through the environment), 480 s in all so that one
# call fits in the tool's 10 minutes with the machine's start-up on top:
#   TESTS_S=150  the CuPy, JAX and torch-on-CUDA tests of the equations, the hot path, the engine,
#                the optimizers (and their transforms, where tests/test_transforms.py exists),
#                dropout and divergence handling: every backend against NumPy, as on the CPU;
#   FIT_S=210    benchmarks/fit_bench.py --device gpu: one epoch of fit per backend against hand
#                lax.scan / jax.jit / torch eager / torch.compile(reduce-overhead) / CuPy loops at
#                [784,30,10] B=10 (the per-step target: <= 100 us) and [784,100,10] B=64, plus the
#                time-per-step sweep over B = 1, 10, 64, 512;
#   LADDER_S=120 benchmarks/run.py --device gpu: the kernel ladder (matmul, einsum, stacked) of a
#                full SGD step at [784,30,10] B=10, [784,100,10] B=64 and [784,1024,1024,10] B=512,
#                each against the cuBLAS GEMM rate measured beside it (the big step's target: >= 60 %).
# A phase that runs out is cut, and the next one still runs. DEVICE=cpu QUICK=1 runs the same phases
# on a CPU as a smoke test of the script (a dry run: nothing it prints is a GPU number).
set -u
OUT=${OUT:-/tmp/pbp-gpu-session}
DEVICE=${DEVICE:-gpu}
mkdir -p "$OUT/fit" "$OUT/ladder"
LOG="$OUT/session.log"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false

site=/tmp/pbp-site
if compgen -G ".whl/*.whl" > /dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
        >> "$LOG" 2>&1 || echo "wheel install failed (see above)" >> "$LOG"
    export PYTHONPATH="$site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi

{
    echo "# portable_bp GPU session, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    nvidia-smi -L 2>/dev/null || echo "(no nvidia-smi)"
    $PY - <<'EOF'
import importlib
for name in ("numpy", "array_api_compat", "array_api_strict", "jax", "torch", "cupy", "sklearn"):
    try:
        print(f"{name} {importlib.import_module(name).__version__}")
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}: {exc}")
try:
    import jax
    print("jax devices:", jax.devices())
except Exception as exc:
    print("jax devices:", exc)
EOF
} >> "$LOG" 2>&1

phase() {  # phase NAME SECONDS COMMAND...: run with a limit, output into the log, status noted
    local name=$1 limit=$2
    shift 2
    echo "## $name (limit ${limit}s): $*" >> "$LOG"
    local t0=$SECONDS
    timeout --signal=INT --kill-after=15 "$limit" "$@" >> "$LOG" 2>&1
    echo "## $name: exit $? after $((SECONDS - t0)) s" >> "$LOG"
}

if [ "$DEVICE" = gpu ]; then
    backends=cupy,jax,torch
    test_env=(env PORTABLE_BP_TEST_BACKENDS=$backends PORTABLE_BP_TEST_TORCH_DEVICE=cuda)
else
    backends=numpy,jax
    test_env=(env PORTABLE_BP_TEST_BACKENDS=$backends)
fi
quick=()
[ "${QUICK:-0}" = 1 ] && quick=(--quick)

tests=(tests/test_equations.py tests/test_hot_path.py tests/test_engine.py tests/test_optim.py
       tests/test_weights_dropout.py tests/test_fit_failures.py)
for extra in tests/test_transforms.py tests/test_trace.py; do [ -f "$extra" ] && tests+=("$extra"); done
phase tests "${TESTS_S:-150}" "${test_env[@]}" $PY -m pytest -q -p no:cacheprovider \
    --junitxml "$OUT/tests.xml" "${tests[@]}"
phase fit_bench "${FIT_S:-210}" $PY benchmarks/fit_bench.py --device "$DEVICE" --repeats 5 \
    --batches 1,10,64,512 --out "$OUT/fit" "${quick[@]}"
ladder_sizes="784,30,10:10;784,100,10:64;784,1024,1024,10:512"
[ "${QUICK:-0}" = 1 ] && ladder_sizes="784,30,10:10;784,100,10:64"
phase kernel_ladder "${LADDER_S:-120}" $PY benchmarks/run.py --device "$DEVICE" --backends "$backends" \
    --ops step --kernels matmul,einsum,stacked --dtypes float32 --sizes "$ladder_sizes" \
    --peers handwritten,jax-grad-jit,torch-autograd --repeats 5 --no-plot --out "$OUT/ladder" "${quick[@]}"
echo "# done $(date -u +%FT%TZ)" >> "$LOG"
# Only what the device tool brings back may stay under $OUT: at most 8 files, two folders down.
find "$OUT" -type f | sort >> "$LOG"
tail -n 60 "$LOG"
