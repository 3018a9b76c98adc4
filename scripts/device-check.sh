#!/usr/bin/env bash
# Issue 14's GPU checks in one go, for whoever has a CUDA GPU at hand: the tests marked `cuda`
# (skipped everywhere else), then bench/gpu.py (tables on stdout, JSON in bench/results/gpu.json).
#
#   scripts/device-check.sh            # PYTHON=... to choose the interpreter, QUICK=1 for --quick
#
# It installs nothing: torch (a CUDA build) and nasbeyond's dependencies must be there already
# (`pip install -e .[dev]` without constraints.txt; README: GPU). Without nasbeyond installed,
# the source tree is put on PYTHONPATH. Exit status: 0 when both parts pass.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c "import nasbeyond" 2>/dev/null; then
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" - <<'PYEOF' || exit 1
import importlib.util, sys
need = ["torch", "numpy", "yaml", "PIL", "sklearn", "mlxtend", "pytest", "hypothesis"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"device-check: missing modules {', '.join(missing)}; install them (pip install -e .[dev], torch excepted)")
import torch
if not torch.cuda.is_available():
    sys.exit(f"device-check: this torch ({torch.__version__}) sees no CUDA GPU; nothing to check")
print(f"device-check: {torch.cuda.get_device_name()}, torch {torch.__version__} (CUDA {torch.version.cuda})")
PYEOF
mapfile -t files < <(grep -rl --include='test_*.py' 'mark.cuda' tests | sort)
echo "device-check: pytest -m cuda on ${#files[@]} files"
"$PY" -m pytest -m cuda -q -p no:cacheprovider "${files[@]}" "$@"
tests_rc=$?
"$PY" bench/gpu.py ${QUICK:+--quick}
bench_rc=$?
echo "device-check: cuda tests exit ${tests_rc}, bench/gpu.py exit ${bench_rc}"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
