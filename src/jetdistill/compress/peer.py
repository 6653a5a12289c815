"""The peer's model: JEDI-linear (Que et al., the HGQ + da4ml jet tagger) in HGQ2.

The chip frontier sets our students beside the field's per-weight-precision recipe trained
on the same jets, so the comparison is ours against theirs on our data and our tools, not
against a number measured on other data. This is JEDI-linear's ``gnn`` for n x 3 inputs
(src/model.py of the JEDI-linear repository), with its quantiser settings:

- a per-constituent layer ``h_i = relu(W0 x_i)``;
- one permutation-equivariant "global sum" context layer
  ``h_i <- relu(A h_i) + relu(B sum_j h_j / 2^round(log2 n))``;
- one more per-constituent layer, a sum pool scaled by 1/16, an MLP head
  (``head``, JEDI-linear's 64-32-16) and the logits;
- every layer an HGQ2 ``QEinsumDenseBatchnorm`` with per-weight bit widths (``kbi``,
  ``init_bits`` to start, symmetric saturation) and per-element activation bit widths
  (``kif``, ``init_bits`` fractional bits to start, wrapping), the EBOPs cost on.

Its float counterpart (for the registry's float path) is
:class:`jetdistill.learn.models.JEDILinear`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any


def build_hgq_jedi_linear(
    shape: Sequence[int], n_classes: int, *, init_bits: int = 7, width: int = 64,
    head: Sequence[int] = (64, 32, 16), **_: Any,
) -> Any:  # fmt: skip
    """The HGQ2 JEDI-linear (a ``keras.Model`` on ``(constituents, features)`` inputs).

    ``init_bits``: the starting weight bits and activation fractional bits (JEDI-linear: 7).
    Adam moves a bit width by about the learning rate per step, so a short training cannot
    shed many bits: the start is part of the recipe."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from hgq.layers import QAdd, QEinsumDenseBatchnorm, QSum

    from jetdistill.compress.hgq_models import input_quantiser, quantiser_scopes

    n_const, n_feat = (int(d) for d in shape)
    iq = input_quantiser()
    scopes = quantiser_scopes(init_bits)
    pool = 2.0 ** -round(math.log2(n_const))
    per = "bnc,cC->bnC"
    with scopes[0], scopes[1], scopes[2], scopes[3]:
        inp = keras.layers.Input((n_const, n_feat))
        x = QEinsumDenseBatchnorm(per, (n_const, width), bias_axes="C", activation="relu",
                                  iq_conf=iq)(inp)  # fmt: skip
        s = QEinsumDenseBatchnorm(per, (n_const, width), bias_axes="C", activation="relu")(x)
        g = QSum(axes=1, scale=pool, keepdims=True)(x)
        d = QEinsumDenseBatchnorm(per, (1, width), bias_axes="C", activation="relu")(g)
        x = QAdd()([s, d])
        x = QEinsumDenseBatchnorm(per, (n_const, width), bias_axes="C", activation="relu")(x)
        x = QSum(axes=1, scale=1 / 16, keepdims=False)(x)
        for w in head:
            x = QEinsumDenseBatchnorm("bc,cC->bC", int(w), bias_axes="C", activation="relu")(x)
        out = QEinsumDenseBatchnorm("bc,cC->bC", n_classes, bias_axes="C")(x)
    return keras.Model(inp, out)


def jedi_linear_limits(params: Mapping[str, Any], n_constituents: int | None) -> None:
    """Every JEDI-linear spec has an HGQ twin (the model is defined by it)."""
    return
