"""Compression stage: Brevitas quantised twins, pruning and hardware cost (BOPs)."""
