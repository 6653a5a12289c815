"""Report stage: KD-vs-solo comparison, compression frontier, learning curves, summary tables."""
