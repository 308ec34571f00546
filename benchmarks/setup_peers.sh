#!/usr/bin/env bash
# Create benchmarks/.peers-venv: the separate environment holding the benchmark's peers
# (PennyLane + lightning, TorchQuantum, Qulacs, pyqtorch; the JIT peers tensorcircuit-ng and
# PennyLane under jax.jit) next to torch 2.13.0 (CPU).
# Peers are never dependencies of qdl itself. Usage (from anywhere):
#     bash benchmarks/setup_peers.sh            # reuse an existing venv, install what is missing
#     FRESH=1 bash benchmarks/setup_peers.sh    # delete and rebuild the venv
# Env: PYTHON (default python3.11), PEERS_VENV (default benchmarks/.peers-venv).
#
# Every version is pinned in benchmarks/peers-constraints.txt (a full `pip freeze` of a
# working venv, verified by benchmarks/check_peers.py). It is passed as a constraints file
# to every pip call, so no peer can move torch off 2.13.0 (the CPU build this machine has on
# local disk; any other torch spec would download multi-GB CUDA wheels) or numpy off 2.4.6.
#
# Notes on the peers:
# - PennyLane 0.45.1 / lightning 0.45.0 need numpy>=2.0; numpy 2.4.6 works with torch 2.13.
# - torchquantum 0.1.8 declares qiskit<1, tensorflow, pyscf, torchvision, ... and its package
#   __init__ imports all of it. It is installed with --no-deps. torchvision cannot work here:
#   PyPI only has CUDA-linked torchvision wheels (`_C.so` needs libc10_cuda.so, absent in the
#   CPU torch build; CPU wheels live on the PyTorch index, which this machine cannot reach).
#   So peers.py imports torchquantum.functional / torchquantum.device without running the
#   package __init__ (see peers._load_torchquantum). Those modules still import
#   torchquantum.util, which needs qiskit (0.46.3 + qiskit-aer 0.14.2 for the old
#   qiskit.providers.aer path), qiskit-ibm-runtime 0.20.0 (needs pkg_resources, hence
#   setuptools<81), opt_einsum, and torchpack (installed --no-deps: its declared deps pull
#   torchvision + tensorboard; only loguru, multimethod, pyyaml, toml are imported).
#   These are real installs, nothing is stubbed.
# - qulacs 0.6.14 and pyqtorch 1.7.8 install normally.
# - JIT peers: jax/jaxlib 0.10.2 (CPU wheels from PyPI; the newest that resolves next to
#   numpy 2.4.6 / scipy 1.17.1 here), optax 0.2.8 (Adam for the compiled training step in
#   training_step.py) and tensorcircuit-ng 1.10.0 (imports as `tensorcircuit`; pulls
#   tensornetwork-ng). PennyLane 0.45.1 runs default.qubit on jax 0.10.2 (check_peers.py).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${PEERS_VENV:-$HERE/.peers-venv}"
PYTHON="${PYTHON:-python3.11}"
CONSTRAINTS="$HERE/peers-constraints.txt"

if [[ "${FRESH:-0}" == "1" && -d "$VENV" ]]; then
    echo ">> removing $VENV"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    echo ">> creating $VENV with $PYTHON"
    "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
        || { echo "need Python 3.11 (set PYTHON=...)" >&2; exit 1; }
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pip_c() { "$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" "$@"; }

echo ">> torch (CPU build from local disk) first"
pip_c "torch==2.13.0"

echo ">> PennyLane, lightning, qulacs, pyqtorch, matplotlib"
pip_c "pennylane==0.45.1" "pennylane-lightning==0.45.0" "qulacs==0.6.14" "pyqtorch==1.7.8" \
    "matplotlib==3.11.2"

echo ">> JIT peers: jax (CPU), optax, tensorcircuit-ng"
pip_c "jax==0.10.2" "jaxlib==0.10.2" "optax==0.2.8" "tensorcircuit-ng==1.10.0"

echo ">> torchquantum 0.1.8 (--no-deps) and what its simulator core really imports"
pip_c "qiskit==0.46.3" "qiskit-aer==0.14.2" "qiskit-ibm-runtime==0.20.0" "setuptools<81" \
    "opt_einsum==3.4.0" "loguru" "multimethod" "pyyaml" "toml"
pip_c --no-deps "torchquantum==0.1.8" "torchpack==0.3.1"

echo ">> checking torch was not moved"
"$PY" - <<'EOF'
import torch
assert torch.__version__.startswith("2.13.0"), torch.__version__
EOF

echo ">> local project with its app extra (editable; non-fatal while qdl is being written)"
# The app extra (pydantic, rich, ...) lets benchmarks.startup time a real `qdl train`.
if ! pip_c -e "$ROOT[app]"; then
    echo "!! 'pip install -e $ROOT' failed: qdl is not installed in the peers venv;"
    echo "!! the peers still work. Re-run this script once the project installs."
fi

echo ">> versions"
"$PY" - <<'EOF'
import importlib.metadata as md
import sys

sys.path.insert(0, "benchmarks")
print(f"python {sys.version.split()[0]}")
for dist in ("torch", "numpy", "scipy", "pennylane", "pennylane-lightning", "torchquantum",
             "qulacs", "pyqtorch", "qiskit", "qiskit-aer", "qiskit-ibm-runtime", "torchpack",
             "jax", "jaxlib", "optax", "tensorcircuit-ng", "matplotlib", "qdl"):
    try:
        print(f"{dist:22s} {md.version(dist)}")
    except md.PackageNotFoundError:
        print(f"{dist:22s} (not installed)")
EOF
echo ">> done: run '$PY $HERE/check_peers.py' to verify the peers"
