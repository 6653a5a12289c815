# jetdistill: distil a large jet tagger into a tiny FPGA-ready student.
# Run: snakemake --cores 8            (defaults: config/config.yaml)
#      snakemake --workflow-profile profiles/slurm
# rules/*.smk hold the rules and their input helpers; the work is done by the jetdistill package.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/tracking.smk"
include: "rules/data.smk"
include: "rules/teachers.smk"
include: "rules/students.smk"
include: "rules/compression.smk"
include: "rules/fpga.smk"
include: "rules/frontier.smk"
include: "rules/compare.smk"
include: "rules/learning_curve.smk"


onstart:
    start_invocation()
    print_estimate()


onsuccess:
    end_invocation(success=True)


onerror:
    end_invocation(success=False)


rule all:
    default_target: True
    input:
        final_outputs(),
