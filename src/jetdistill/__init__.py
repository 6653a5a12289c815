"""jetdistill: distil large jet taggers into tiny FPGA-ready students."""

from jetdistill import quiet as _quiet

__version__ = "0.1.0"

_quiet.install()  # narrow filters for uninformative third-party warnings (see jetdistill.quiet)
