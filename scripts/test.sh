#!/usr/bin/env bash
# Set up (if needed, with test dependencies) and run the whole test suite:
# unit tests, the end-to-end Snakemake run on config/test.yaml, the real single-node SLURM
# integration test, MLflow concurrency, resume/determinism and report tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"
# Style first (seconds): a finding fails the run like a failing test.
echo "style: ruff check, ruff format --check, snakefmt --check, snakemake --lint"
.venv/bin/ruff check src tests benchmarks workflow
.venv/bin/ruff format --check src tests benchmarks workflow
.venv/bin/snakefmt --check Snakefile rules
lint=$(.venv/bin/snakemake --lint 2>&1) || { echo "$lint"; exit 1; }
grep -q "Congratulations" <<<"$lint" || { echo "$lint"; exit 1; }
exec .venv/bin/python -m pytest "$@"
