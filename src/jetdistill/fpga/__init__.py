"""FPGA stage: QONNX export, hls4ml conversion with C simulation, open-source RTL estimates."""
