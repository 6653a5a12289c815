#!/usr/bin/env bash
# Install what tests/test_slurm.py needs for its throw-away single-node SLURM:
# Debian's slurm-wlm (slurmctld, slurmd, sbatch, sacct, ...) and munge.
# Idempotent: installs nothing when the binaries are already there. Must run as root
# (the harness runs slurmctld/slurmd as root too). Nothing is configured or started
# here: tests/slurm_harness.py writes its own slurm.conf and munge key under a tmp dir.
set -euo pipefail

need_install=0
for bin in slurmctld slurmd munged sbatch sacct; do
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
        need_install=1
    fi
done

if [ "$need_install" -eq 0 ]; then
    echo "slurm-setup: slurm-wlm and munge already installed ($(slurmctld -V 2>/dev/null || echo '?'))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "slurm-setup: must run as root to install slurm-wlm and munge" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps out the X11/mail/mysql clients the metapackage recommends.
apt-get install -y -qq --no-install-recommends slurm-wlm munge
echo "slurm-setup: installed $(slurmctld -V)"
