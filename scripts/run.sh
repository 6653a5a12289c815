#!/usr/bin/env bash
# Set up (if needed) and run the default workflow on the built-in generated jets.
# Uses every core of this machine (`nproc`); override with CORES=N or pass --cores/-c yourself.
# Extra arguments go to snakemake, e.g.
#   bash scripts/run.sh --configfile config/paper.yaml
#   CORES=8 bash scripts/run.sh          # or: bash scripts/run.sh --cores 8
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

args=("$@")
has_cores=0
for a in "${args[@]}"; do
  case "$a" in
    --cores|--cores=*|-c|-c[0-9]*|--jobs|--jobs=*|-j|-j[0-9]*) has_cores=1 ;;
  esac
done
if [[ $has_cores == 0 ]]; then
  cores="${CORES:-$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}"
  args=(--cores "$cores" "${args[@]}")
  echo "running snakemake on $cores cores (override: CORES=N bash scripts/run.sh, or --cores N)"
fi
echo "progress: the N of M steps lines below; each job logs epochs/jets with an ETA in results/logs/"
exec .venv/bin/snakemake "${args[@]}"
