"""Shared builders for the hls4ml and RTL tests: a small Brevitas MLP and its inputs.

The quantisers are those of ``jetdistill.compress.quant`` (power-of-two per-tensor scales, FLOOR ReLU
rounding): the combination under which hls4ml's C simulation and da4ml's RTL must be bit-exact.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

INPUT_SHAPE = (4, 3)  # 12 inputs after the flatten, like the (constituents, features) views


def quant_mlp(
    sizes=(12, 8, 5), bits=6, input_bits=8, seed=0, relu_rounding="FLOOR", calib_steps=40
) -> nn.Module:
    """Brevitas MLP, activation scales calibrated on N(0, 1.5^2) inputs, in eval mode."""
    from brevitas.inject.enum import FloatToIntImplType
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8WeightPerTensorFixedPoint,
        Int16Bias,
        Uint8ActPerTensorFixedPoint,
    )

    torch.manual_seed(seed)
    layers: list[nn.Module] = [
        nn.Flatten(),
        QuantIdentity(
            act_quant=Int8ActPerTensorFixedPoint, bit_width=input_bits, return_quant_tensor=True
        ),
    ]
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(
            QuantLinear(
                a,
                b,
                bias=True,
                weight_quant=Int8WeightPerTensorFixedPoint,
                weight_bit_width=bits,
                bias_quant=Int16Bias,
                return_quant_tensor=True,
            )
        )
        if i < len(sizes) - 2:
            layers.append(
                QuantReLU(
                    act_quant=Uint8ActPerTensorFixedPoint,
                    bit_width=bits,
                    float_to_int_impl_type=getattr(FloatToIntImplType, relu_rounding),
                    return_quant_tensor=True,
                )
            )
    model = nn.Sequential(*layers)
    model.train()  # activation scales are calibrated from runtime statistics in training mode
    with torch.no_grad():
        for _ in range(calib_steps):
            model(1.5 * torch.randn(256, *INPUT_SHAPE))
    return model.eval()


def sample_inputs(n=2000, seed=1) -> np.ndarray:
    """1.5 sigma: some inputs saturate the 8-bit input quantiser (range +-4), exercising SAT."""
    return (1.5 * np.random.default_rng(seed).normal(size=(n, *INPUT_SHAPE))).astype(np.float32)
