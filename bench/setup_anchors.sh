#!/usr/bin/env bash
# Create the isolated anchors environment bench/.anchors-venv (git-ignored): PyHessian,
# curvlinops and hessian-eigenthings with torch pinned to the project's version, plus hessrmt
# itself (editable), so that ONE process imports hessrmt and the anchors side by side.
# The project's own .venv is not touched. Usage: bench/setup_anchors.sh [--force]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/bench/.anchors-venv"
CONSTRAINTS="$ROOT/bench/constraints-anchors.txt"
PYTHON="${PYTHON:-python3}"
if [ "${1:-}" = "--force" ]; then rm -rf "$VENV"; fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install --quiet --upgrade pip
$PIP install --quiet -c "$CONSTRAINTS" torch==2.13.0 pyhessian curvlinops-for-pytorch hessian-eigenthings
$PIP install --quiet -c "$CONSTRAINTS" -c "$ROOT/constraints.txt" -e "$ROOT[all]" pytest hypothesis
"$VENV/bin/python" - <<'PY'
import curvlinops, hessian_eigenthings, pyhessian, sklearn, torch, hessrmt  # noqa: F401
print(f"anchors environment ready: torch {torch.__version__}, hessrmt {hessrmt.__version__}")
PY
