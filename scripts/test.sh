#!/usr/bin/env bash
# Set up (if needed, with test dependencies) and run the whole test suite:
# unit tests, the end-to-end Snakemake run on config/test.yaml, the real single-node SLURM
# integration test, MLflow concurrency, resume/determinism and report tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
