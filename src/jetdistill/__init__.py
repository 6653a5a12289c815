"""jetdistill: distil large jet taggers into tiny FPGA-ready students."""

__version__ = "0.1.0"
