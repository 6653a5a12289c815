"""Data stage: the hls4ml jet layout, the Pythia8 + FastJet generator, sources, splits and views."""
