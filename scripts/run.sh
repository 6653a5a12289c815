#!/usr/bin/env bash
# Set up (if needed) and run the default workflow on the built-in generated jets.
# Extra arguments go to snakemake, e.g. `bash scripts/run.sh --configfile config/paper.yaml`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/snakemake --cores 8 "$@"
