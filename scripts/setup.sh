#!/usr/bin/env bash
# Set up jetdistill on a fresh machine with Python >= 3.11 and pip:
#   - a virtual environment in .venv with the CPU build of torch 2.13.0 installed FIRST
#     (an unpinned torch would pull GBs of CUDA wheels), then the package;
#   - Debian packages for the open-source hardware estimate (yosys, verilator) and, with
#     --test, for the integration tests (chromium; slurm-wlm and munge via .ci/slurm-setup.sh), when root.
# Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "torch==2.13.0"
if [[ $WITH_TEST == 1 ]]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi

apt_pkgs=()
command -v yosys >/dev/null || apt_pkgs+=(yosys)
command -v verilator >/dev/null || apt_pkgs+=(verilator)
if [[ $WITH_TEST == 1 ]]; then
  command -v chromium >/dev/null || apt_pkgs+=(chromium)
fi
if (( ${#apt_pkgs[@]} )); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${apt_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "WARNING: please install ${apt_pkgs[*]} (apt-get install ${apt_pkgs[*]})" >&2
  fi
fi
if [[ $WITH_TEST == 1 ]]; then
  bash .ci/slurm-setup.sh   # slurm-wlm + munge for the single-node SLURM integration test
fi
echo "jetdistill set up in .venv"
