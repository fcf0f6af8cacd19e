#!/usr/bin/env bash
# One device-tool call's worth of GPU checks (issue 13), prepared so that a task lent a GPU spends
# its ~15 minutes of device time measuring, not setting up. Everything lands under $OUT in 7 files
# (the device tool brings back 8 at most): session.log, fit/{fit.json,table.md,time_per_step.png}
# and step/{bench.json,table.md,table.txt}.
#
# On the lent NVIDIA H200 python3 already holds torch, JAX and CuPy for CUDA 13, NumPy, pytest,
# hypothesis, scikit-learn, matplotlib, tqdm and threadpoolctl, but not array-api-compat nor
# array-api-strict: carry them as wheels (here, once, from the repository root):
#
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl array-api-compat==1.16.0 array-api-strict==2.6.1
#
# then, through the device tool, with carry [".whl"] and timeout_s 600:
#
#   bash benchmarks/gpu_session.sh
#
# Phases and their limits (seconds; override through the environment): TESTS_S=150 the CuPy, JAX and
# torch-on-CUDA tests of the numerics and the training engine; FIT_S=270 benchmarks/fit_bench.py
# --device gpu; STEP_S=120 benchmarks/run.py --device gpu. A phase that runs out is cut, and the
# next one still runs. DEVICE=cpu QUICK=1 runs the same phases on a CPU as a smoke test of the script.
set -u
OUT=${OUT:-/tmp/pbp-gpu-session}
DEVICE=${DEVICE:-gpu}
mkdir -p "$OUT/fit" "$OUT/step"
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

phase tests "${TESTS_S:-150}" "${test_env[@]}" $PY -m pytest -q -p no:cacheprovider -x \
    tests/test_equations.py tests/test_hot_path.py tests/test_engine.py tests/test_fit_failures.py
phase fit_bench "${FIT_S:-270}" $PY benchmarks/fit_bench.py --device "$DEVICE" --repeats 5 \
    --batches 1,10,64,512 --out "$OUT/fit" "${quick[@]}"
phase step_bench "${STEP_S:-120}" $PY benchmarks/run.py --device "$DEVICE" --backends "$backends" \
    --ops step --kernels matmul --dtypes float32 --repeats 5 --no-plot --out "$OUT/step" "${quick[@]}"
echo "# done $(date -u +%FT%TZ)" >> "$LOG"
tail -n 40 "$LOG"
