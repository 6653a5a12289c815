"""Third-party warnings that say nothing are filtered at import; others still show."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import logging, warnings
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
logging.captureWarnings(True)
import jetdistill  # installs the filters
import brevitas.graph.equalize  # warns about fast_hadamard_transform on import
from qonnx.transformation import gemm_to_matmul
warnings.warn_explicit("The GemmToMatMul transformation only offers explicit support for version 9",
                       UserWarning, gemm_to_matmul.__file__, 57, module=gemm_to_matmul.__name__)
warnings.warn("an unrelated warning", UserWarning)
logging.getLogger("onnx_ir.passes.common").info("Removed 43 unused nodes")
logging.getLogger("onnx_ir.passes.common").warning("a real onnx_ir warning")
"""


def test_known_noise_is_filtered_and_the_rest_is_not():
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    err = proc.stderr
    assert "fast_hadamard_transform" not in err
    assert "GemmToMatMul" not in err
    assert "Removed 43 unused nodes" not in err
    assert "an unrelated warning" in err and "a real onnx_ir warning" in err
