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
SECONDS=0
step() { printf '\n[setup %s, %ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*"; }

if [[ ! -x .venv/bin/python ]]; then
  step "1/4 creating the virtual environment .venv ($("$PY" --version 2>&1))"
  "$PY" -m venv .venv
else
  step "1/4 reusing the virtual environment .venv"
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if .venv/bin/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  step "2/4 torch 2.13.0 already installed"
else
  step "2/4 installing the CPU build of torch 2.13.0 first (~200 MB; usually 1-3 min)"
  .venv/bin/python -m pip install --progress-bar on "torch==2.13.0"
fi
if [[ $WITH_TEST == 1 ]]; then
  step "3/4 installing jetdistill with test extras (snakemake[reports], mlflow, brevitas, hls4ml, qonnx, da4ml, hgq2, keras, pythia8mc, fastjet, pytest, ...); usually 3-8 min on a fresh venv, under a minute when already installed"
  .venv/bin/python -m pip install --progress-bar on -e ".[dev]"
else
  step "3/4 installing jetdistill (snakemake[reports], mlflow, brevitas, hls4ml, qonnx, da4ml, hgq2, keras, pythia8mc, fastjet, ...); usually 3-8 min on a fresh venv, under a minute when already installed"
  .venv/bin/python -m pip install --progress-bar on -e .
fi

step "4/4 system packages for the hardware estimate (yosys, verilator)$([[ $WITH_TEST == 1 ]] && echo " and the tests (chromium, slurm-wlm, munge)")"
apt_pkgs=()
command -v yosys >/dev/null || apt_pkgs+=(yosys)
command -v verilator >/dev/null || apt_pkgs+=(verilator)
if [[ $WITH_TEST == 1 ]]; then
  command -v chromium >/dev/null || apt_pkgs+=(chromium)
fi
if (( ${#apt_pkgs[@]} )); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${apt_pkgs[*]} (usually 1-3 min)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "WARNING: please install ${apt_pkgs[*]} (apt-get install ${apt_pkgs[*]})" >&2
  fi
fi
if [[ $WITH_TEST == 1 ]]; then
  bash .ci/slurm-setup.sh   # slurm-wlm + munge for the single-node SLURM integration test
fi
step "done: jetdistill set up in .venv in ${SECONDS}s"
