"""Jet taggers: interaction network (JEDI-net), Deep Sets, a set student and a plain MLP.

All models take a float tensor of shape ``(B, *input_shape)``; for jet views that is
``(B, C, F)`` = constituents x features, zero-padded constituents included (the paper
models see the padding too, so no mask is applied; the set student masks it, see
:class:`SetStudent`). They return logits ``(B, n_classes)``.

Every ``forward`` is free of data-dependent Python control flow so that
``torch.fx.symbolic_trace`` works (hls4ml's PyTorch front-end and the pruning/cost code
trace the graph). Sizes come from the ``models.<name>`` config block through
:func:`build_model`, which rejects unknown or ill-typed hyper-parameters by name.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from jetdistill.errors import InputError

log = logging.getLogger(__name__)

#: Keys every model block may carry that are not architecture hyper-parameters.
COMMON_KEYS: frozenset[str] = frozenset({"type", "view"})

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}

POOLINGS: tuple[str, ...] = ("sum", "mean", "max")

#: Ways to form the interaction network's edges (identical results up to float rounding).
EDGE_IMPLS: tuple[str, ...] = ("matmul", "gather", "factorized")


# --------------------------------------------------------------------------- building blocks


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def mlp_stack(
    in_dim: int,
    widths: Sequence[int],
    activation: str,
    *,
    final_activation: bool,
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """``Linear -> [BN] -> act -> [Dropout]`` per width; the last Linear is bare unless asked.

    Linear layers act on the last axis, so the same stack serves per-constituent (``(B, C, F)``)
    and per-edge (``(B, E, 2F)``) inputs. ``batch_norm`` is only valid on 2-D inputs.
    """
    layers: list[nn.Module] = []
    prev = in_dim
    for i, width in enumerate(widths):
        layers.append(nn.Linear(prev, width))
        last = i == len(widths) - 1
        if not last or final_activation:
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(make_activation(activation))
            if dropout > 0.0:
                layers.append(nn.Dropout(dropout))
        prev = width
    return nn.Sequential(*layers)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``module`` in registration (= forward) order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def receiver_sender_indices(n: int) -> tuple[Tensor, Tensor]:
    """Receiver and sender index of each of the ``n*(n-1)`` ordered pairs (receiver-major).

    Edge ``e = r*(n-1) + j`` has receiver ``r`` and sender ``j`` if ``j < r`` else ``j+1``.
    Receiver-major order is what lets the aggregation be a reshape + sum.
    """
    recv = torch.arange(n).repeat_interleave(n - 1)
    j = torch.arange(n - 1).repeat(n)
    send = j + (j >= recv).long()
    return recv, send


def relation_matrices(n: int) -> tuple[Tensor, Tensor]:
    """JEDI-net's one-hot receiving/sending matrices ``Rr, Rs`` of shape ``(n, n*(n-1))``."""
    recv, send = receiver_sender_indices(n)
    e = torch.arange(n * (n - 1))
    rr = torch.zeros(n, n * (n - 1))
    rs = torch.zeros(n, n * (n - 1))
    rr[recv, e] = 1.0
    rs[send, e] = 1.0
    return rr, rs


# --------------------------------------------------------------------------- models


class InteractionNetwork(nn.Module):
    """JEDI-net (Moreno et al., arXiv:1908.05318) for a fully connected constituent graph.

    - edges: every ordered (receiver, sender) pair, ``E = C*(C-1)``; edge input is
      ``[x_receiver, x_sender]`` formed with the fixed one-hot matrices ``Rr, Rs`` (buffers);
    - ``f_R`` (edge MLP) -> effects ``(B, E, fr_out)``, summed per receiver (``Rr @ effects``);
    - ``f_O`` (object MLP) on ``[x, aggregated effects]`` -> ``(B, C, fo_out)``;
    - ``phi_C`` on the *sum* over constituents -> logits.

    Cost is quadratic in ``C``. Three interchangeable implementations (same parameters,
    same state dict, same output up to float rounding; all fx-traceable):

    - ``"matmul"``: the paper's dense formulation, ``x^T Rr`` / ``x^T Rs`` and ``Rr E^T``
      (cubic in ``C`` because ``Rr`` is ``C x C(C-1)``);
    - ``"gather"``: edges by indexing, aggregation by reshape + sum (receiver-major order);
    - ``"factorized"`` (default, fastest): like ``gather`` but the first ``f_R`` Linear is
      applied per constituent before broadcasting to edges (see ``_effects_factorized``).
    """

    def __init__(
        self,
        n_constituents: int,
        n_features: int,
        n_classes: int,
        *,
        fr_hidden: Sequence[int] = (32, 16),
        fr_out: int = 8,
        fo_hidden: Sequence[int] = (32, 16),
        fo_out: int = 16,
        phi_hidden: Sequence[int] = (32, 16),
        activation: str = "relu",
        edge_impl: str = "factorized",
    ) -> None:
        super().__init__()
        if n_constituents < 2:
            raise InputError(
                "interaction_network input_shape", "at least 2 constituents", str(n_constituents)
            )
        self.n_constituents = n_constituents
        self.n_features = n_features
        self.n_edges = n_constituents * (n_constituents - 1)
        self.fr_out = fr_out
        self.edge_impl = edge_impl
        rr, rs = relation_matrices(n_constituents)
        self.register_buffer("Rr", rr, persistent=False)
        self.register_buffer("Rs", rs, persistent=False)
        _, send = receiver_sender_indices(n_constituents)
        self.register_buffer("send_idx", send, persistent=False)
        self.f_r = mlp_stack(
            2 * n_features, [*fr_hidden, fr_out], activation, final_activation=True
        )
        self.f_o = mlp_stack(
            n_features + fr_out, [*fo_hidden, fo_out], activation, final_activation=True
        )
        self.phi_c = mlp_stack(fo_out, [*phi_hidden, n_classes], activation, final_activation=False)

    def _edges_matmul(self, x: Tensor) -> Tensor:
        xt = x.transpose(1, 2)  # (B, F, C)
        recv = torch.matmul(xt, self.Rr)  # (B, F, E)
        send = torch.matmul(xt, self.Rs)
        return torch.cat([recv, send], dim=1).transpose(1, 2)  # (B, E, 2F)

    def _edges_gather(self, x: Tensor) -> Tensor:
        c, f = self.n_constituents, self.n_features
        recv = x.unsqueeze(2).expand(-1, c, c - 1, f).reshape(-1, self.n_edges, f)
        send = x.index_select(1, self.send_idx)  # (B, E, F)
        return torch.cat([recv, send], dim=2)

    def _effects_factorized(self, x: Tensor) -> Tensor:
        """``f_R`` with its first Linear split as ``W [x_r, x_s] + b = W_r x_r + W_s x_s + b``.

        The two halves are applied per constituent (``C`` rows instead of ``C(C-1)``) and only
        the hidden vectors are broadcast to edges; same parameters, same function.
        """
        c, f = self.n_constituents, self.n_features
        first: nn.Linear = self.f_r[0]
        h_recv = nn.functional.linear(x, first.weight[:, :f], first.bias)  # (B, C, H)
        h_send = nn.functional.linear(x, first.weight[:, f:])  # (B, C, H)
        hidden = h_send.shape[-1]
        recv = h_recv.unsqueeze(2).expand(-1, c, c - 1, hidden).reshape(-1, self.n_edges, hidden)
        h = recv + h_send.index_select(1, self.send_idx)  # (B, E, H)
        for layer in list(self.f_r)[1:]:  # the installed submodules (fx needs their names)
            h = layer(h)
        return h

    def forward(self, x: Tensor) -> Tensor:
        # edge_impl is fixed at construction, so this branch is not data-dependent (fx-safe).
        if self.edge_impl == "matmul":
            effects = self.f_r(self._edges_matmul(x))  # (B, E, De)
            agg = torch.matmul(self.Rr, effects)  # (C, E) @ (B, E, De) -> (B, C, De)
        else:
            if self.edge_impl == "gather":
                effects = self.f_r(self._edges_gather(x))
            else:
                effects = self._effects_factorized(x)
            # receiver-major edge order: the per-receiver sum is a reshape + sum
            agg = effects.reshape(
                -1, self.n_constituents, self.n_constituents - 1, self.fr_out
            ).sum(2)
        objects = self.f_o(torch.cat([x, agg], dim=2))  # (B, C, Do)
        return self.phi_c(objects.sum(dim=1))


class DeepSets(nn.Module):
    """Deep Sets (Zaheer et al. 2017): ``rho(pool_i phi(x_i))``; permutation invariant.

    ``phi`` is applied to each constituent (Linear on the last axis), its last width is the
    latent size; ``rho`` maps the pooled latent vector to logits.
    """

    def __init__(
        self,
        n_constituents: int,
        n_features: int,
        n_classes: int,
        *,
        phi_hidden: Sequence[int] = (32, 32),
        rho_hidden: Sequence[int] = (32,),
        pooling: str = "mean",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.n_constituents = n_constituents
        self.pooling = pooling
        self.phi = mlp_stack(n_features, list(phi_hidden), activation, final_activation=True)
        self.rho = mlp_stack(
            phi_hidden[-1], [*rho_hidden, n_classes], activation, final_activation=False
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.phi(x)  # (B, C, L)
        if self.pooling == "sum":
            pooled = h.sum(dim=1)
        elif self.pooling == "max":
            pooled = h.amax(dim=1)
        else:
            pooled = h.mean(dim=1)
        return self.rho(pooled)


class MLP(nn.Sequential):
    """Dense network on the flattened input: ``Flatten, (Linear, [BN], act, [Dropout])*, Linear``.

    A plain ``nn.Sequential`` of stock layers so that the Brevitas twin and hls4ml can walk
    it layer by layer; :attr:`linear_layers` lists the Linear layers in order.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        hidden: Sequence[int] = (64, 32, 32),
        dropout: float = 0.0,
        batch_norm: bool = False,
        activation: str = "relu",
    ) -> None:
        in_dim = 1
        for d in input_shape:
            in_dim *= int(d)
        body = mlp_stack(
            in_dim,
            [*hidden, n_classes],
            activation,
            final_activation=False,
            batch_norm=batch_norm,
            dropout=dropout,
        )
        super().__init__(nn.Flatten(), *body)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.in_dim = in_dim

    @property
    def linear_layers(self) -> list[nn.Linear]:
        return linear_layers(self)


def constituent_mask(x: Tensor) -> Tensor:
    """``(B, C, 1)``: 1.0 for a real constituent, 0.0 for padding (an all-zero feature row).

    The views write padded slots as exact zeros after normalisation (see
    :mod:`jetdistill.data.prepare`), so no separate mask input is needed: on the chip this is
    an OR over the bits of each constituent's features. Kept as a float 0/1 factor because
    masking is a multiply (an AND gate in hardware).
    """
    return (x != 0).any(dim=-1, keepdim=True).type_as(x)


def masked_pool(h: Tensor, mask: Tensor | None, pooling: str) -> Tensor:
    """Pool ``h (B, C, L)`` over the real constituents of ``mask (B, C, 1)`` -> ``(B, L)``.

    - ``sum``: sum of the masked rows (exact in fixed point);
    - ``mean``: that sum divided by the number of real constituents (at least 1);
    - ``max``: maximum over real rows only; a jet with no real constituent pools to 0.
      For non-negative ``h`` (ReLU outputs) this equals ``max_i(mask_i * h_i)``, which is
      what a chip computes.

    ``mask=None`` pools every slot (padding included). ``pooling`` and whether there is a
    mask are fixed at construction by the callers, so the branches are fx-safe.
    """
    if mask is None:
        if pooling == "max":
            return h.amax(dim=1)
        return h.mean(dim=1) if pooling == "mean" else h.sum(dim=1)
    if pooling == "max":
        pooled = h.masked_fill(mask == 0, float("-inf")).amax(dim=1)
        return pooled.masked_fill(mask.amax(dim=1) == 0, 0.0)
    total = (h * mask).sum(dim=1)
    if pooling == "mean":
        return total / mask.sum(dim=1).clamp(min=1.0)
    return total


class EquivariantContext(nn.Module):
    """One permutation-equivariant context layer: ``h_i <- act(A h_i + B pool_j h_j)``.

    ``A`` (``local``) acts on every constituent; ``B`` (``context``) acts once per jet on the
    masked pool of all of them, and its output is broadcast back to every constituent.
    ``B``'s bias is redundant with ``A``'s (32 parameters, one adder per output per jet) but
    kept: bias-less Gemm nodes break qonnx's ``GemmToMatMul`` in the FPGA export. This is the "global"
    layer of JEDI-linear: set-wide information at linear cost in ``C`` (the interaction
    network pays ``C*(C-1)`` edges for it). ``local`` is registered before ``context`` so
    the Linear order (which :func:`jetdistill.compress.quant.load_float_weights` copies
    by) is ``A, B``.
    """

    def __init__(self, in_dim: int, out_dim: int, *, pooling: str, activation: str) -> None:
        super().__init__()
        self.pooling = pooling
        self.local = nn.Linear(in_dim, out_dim)
        self.context = nn.Linear(in_dim, out_dim)
        self.act = make_activation(activation)

    def forward(self, h: Tensor, mask: Tensor | None) -> Tensor:
        pooled = masked_pool(h, mask, self.pooling)  # (B, L_in)
        return self.act(self.local(h) + self.context(pooled).unsqueeze(1))


class SetStudent(nn.Module):
    """JEDI-linear-family set model: ``rho(pool_i ctx_K(...ctx_1(phi(x_i))))``, masked.

    - ``phi``: per-constituent MLP (``phi_hidden``, activation after every layer);
    - ``context_widths``: one :class:`EquivariantContext` per width (``[]``: none, i.e.
      masked Deep Sets), each pooling with ``context_pooling``;
    - ``pooling``: the final permutation-invariant pool; ``rho``: head MLP -> logits.

    Padded constituents (all-zero rows, :func:`constituent_mask`) are left out of every
    pool when ``mask_padding`` (the default), so appending padding does not change the
    output; ``mask_padding: false`` pools every slot like :class:`DeepSets` does (and
    needs no mask logic on a chip).
    Permutation invariant: every per-constituent op is row-wise and every pool symmetric.
    :meth:`embed` returns the pooled latent vector (``embedding_dim`` wide), e.g. for a
    feature-hint loss.

    The defaults are the point measured for the chip search (config/studies/chip.md): phi 32-32, one 32-wide
    context layer with mean context pooling, max pooling and a 32-wide head, 4,517
    parameters on 16x3 views with 5 classes.
    """

    def __init__(
        self,
        n_constituents: int,
        n_features: int,
        n_classes: int,
        *,
        phi_hidden: Sequence[int] = (32, 32),
        context_widths: Sequence[int] = (32,),
        context_pooling: str = "mean",
        pooling: str = "max",
        rho_hidden: Sequence[int] = (32,),
        activation: str = "relu",
        mask_padding: bool = True,
    ) -> None:
        super().__init__()
        self.n_constituents = n_constituents
        self.n_features = n_features
        self.pooling = pooling
        self.context_pooling = context_pooling
        self.mask_padding = mask_padding
        self.phi = mlp_stack(n_features, list(phi_hidden), activation, final_activation=True)
        prev = phi_hidden[-1]
        layers = []
        for width in context_widths:
            layers.append(
                EquivariantContext(prev, width, pooling=context_pooling, activation=activation)
            )
            prev = width
        self.context = nn.ModuleList(layers)
        self.embedding_dim = prev
        self.rho = mlp_stack(prev, [*rho_hidden, n_classes], activation, final_activation=False)

    def padding_mask(self, x: Tensor) -> Tensor | None:
        """``(B, C, 1)`` 0/1 factor of the real constituents; ``None`` without masking."""
        return constituent_mask(x) if self.mask_padding else None

    def embed(self, x: Tensor) -> Tensor:
        """The pooled latent vector ``(B, embedding_dim)`` that ``rho`` classifies."""
        mask = self.padding_mask(x)
        h = self.phi(x)
        for layer in self.context:
            h = layer(h, mask)
        return masked_pool(h, mask, self.pooling)

    def forward(self, x: Tensor) -> Tensor:
        return self.rho(self.embed(x))


# --------------------------------------------------------------------------- spec checking


#: ``(resolved params, n_constituents or None) -> (key, expected, got)`` or None (see ModelType).
ChipLimits = Callable[[Mapping[str, Any], "int | None"], "tuple[str, str, str] | None"]


@dataclass(frozen=True)
class ModelType:
    """One registered model type.

    ``build(input_shape, n_classes, **hyper)`` returns the float ``nn.Module``; ``spec`` maps
    each hyper-parameter to ``(kind, default)`` (kinds are checked by :func:`_check_value`);
    ``set_input``: the model needs a ``(constituents, features)`` input; ``quant_twin``:
    ``"module:function"`` of the Brevitas twin's builder (imported only when QAT runs, so
    this module stays free of Brevitas), or ``None`` when the type has no quantised twin.
    ``chip``: the FPGA backends the type reaches (:data:`CHIP_BACKENDS`): ``"hls4ml"`` (its
    twin's QONNX graph and its float model convert with hls4ml) and/or ``"rtl"`` (every op of
    its twin's graph has a da4ml tracer in :mod:`jetdistill.fpga.rtl`); checked against the
    real converters by the tests, and read by ``plan.check_config`` for ``fpga.targets``.
    ``chip_limits(params, n_constituents)``: for a resolved spec that the chip path cannot
    take although the type can (a divider), ``(key, expected, got)`` for the error; else None.
    ``hgq_twin``: ``"module:function"`` of the HGQ2 (per-weight bit width) twin's builder,
    imported only when used (Keras stays out of this module); ``hgq_limits``: as
    ``chip_limits``, for the specs that twin cannot mirror bit-exactly.
    """

    name: str
    build: Callable[..., nn.Module]
    spec: Mapping[str, tuple[str, Any]]
    set_input: bool = False
    quant_twin: str | None = None
    chip: tuple[str, ...] = ()
    chip_limits: ChipLimits | None = None
    hgq_twin: str | None = None
    hgq_limits: ChipLimits | None = None


#: FPGA backends a model type may declare in ``register_model(chip=...)``.
CHIP_BACKENDS = ("hls4ml", "rtl")


#: type name -> :class:`ModelType`, filled by :func:`register_model`.
MODEL_REGISTRY: dict[str, ModelType] = {}


def register_model(
    name: str,
    *,
    spec: Mapping[str, tuple[str, Any]],
    set_input: bool = False,
    quant_twin: str | None = None,
    chip: tuple[str, ...] = (),
    chip_limits: ChipLimits | None = None,
    hgq_twin: str | None = None,
    hgq_limits: ChipLimits | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register ``build(input_shape, n_classes, **hyper) -> nn.Module`` as model ``type: name``."""
    bad = [b for b in chip if b not in CHIP_BACKENDS]
    if bad or (chip and quant_twin is None):
        raise ValueError(f"model type {name!r}: chip backends {chip} need a quant_twin and "
                         f"must be among {CHIP_BACKENDS}")  # fmt: skip

    def deco(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODEL_REGISTRY:
            raise ValueError(f"model type {name!r} is registered twice")
        MODEL_REGISTRY[name] = ModelType(name, build, dict(spec), set_input, quant_twin,
                                         tuple(chip), chip_limits, hgq_twin, hgq_limits)  # fmt: skip
        return build

    return deco


def _lazy_limits(target: str) -> ChipLimits:
    """A limits function that lives in ``"module:function"``, imported when first called."""

    def check(params: Mapping[str, Any], n: int | None) -> tuple[str, str, str] | None:
        module, func = target.split(":")
        return getattr(importlib.import_module(module), func)(params, n)

    return check


@register_model(
    "interaction_network",
    spec={
        "fr_hidden": ("widths", [32, 16]),
        "fr_out": ("int+", 8),
        "fo_hidden": ("widths", [32, 16]),
        "fo_out": ("int+", 16),
        "phi_hidden": ("widths", [32, 16]),
        "activation": ("activation", "relu"),
        "edge_impl": ("edge_impl", "factorized"),
    },
    set_input=True,
)
def _build_interaction_network(shape: tuple[int, ...], n_classes: int, **hp: Any) -> nn.Module:
    return InteractionNetwork(shape[0], shape[1], n_classes, **hp)


def _mean_pool_limits(
    params: Mapping[str, Any], n_constituents: int | None, *, masked: bool, keys: Sequence[str]
) -> tuple[str, str, str] | None:
    """A mean pool on the chip is a shift only over a fixed power-of-two count: over the
    real (masked) constituents, or over a count like 30, it needs a divider."""
    for key in keys:
        if params.get(key) != "mean":
            continue
        if masked:
            why = "a mean over the real constituents divides by their count: a divider"
            return key, f"sum or max on a chip target ({why}), or mask_padding: false", "'mean'"
        if n_constituents and n_constituents & (n_constituents - 1):
            why = (
                f"a mean over {n_constituents} constituents is exact only for a power-of-two count"
            )
            return key, f"sum or max on a chip target ({why})", "'mean'"
    return None


def _deepsets_chip_limits(params: Mapping[str, Any], n: int | None) -> Any:
    return _mean_pool_limits(params, n, masked=False, keys=("pooling",))


def _set_chip_limits(params: Mapping[str, Any], n: int | None) -> Any:
    keys = ("context_pooling", "pooling") if params.get("context_widths") else ("pooling",)
    return _mean_pool_limits(params, n, masked=bool(params.get("mask_padding")), keys=keys)


@register_model(
    "deepsets",
    spec={
        "phi_hidden": ("widths+", [32, 32]),
        "rho_hidden": ("widths", [32]),
        "pooling": ("pooling", "mean"),
        "activation": ("activation", "relu"),
    },
    set_input=True,
    quant_twin="jetdistill.compress.quant:build_quant_deepsets",
    chip=("rtl",),  # pooling through the da4ml tracer; hls4ml 1.3.0 has no ONNX Reduce*
    chip_limits=_deepsets_chip_limits,
)
def _build_deepsets(shape: tuple[int, ...], n_classes: int, **hp: Any) -> nn.Module:
    return DeepSets(shape[0], shape[1], n_classes, **hp)


@register_model(
    "mlp",
    spec={
        "hidden": ("widths", [64, 32, 32]),
        "dropout": ("fraction", 0.0),
        "batch_norm": ("bool", False),
        "activation": ("activation", "relu"),
    },
    quant_twin="jetdistill.compress.quant:build_quant_mlp",
    chip=("hls4ml", "rtl"),
    hgq_twin="jetdistill.compress.hgq_models:build_hgq_mlp",
    hgq_limits=_lazy_limits("jetdistill.compress.hgq_models:mlp_limits"),
)
def _build_mlp(shape: tuple[int, ...], n_classes: int, **hp: Any) -> nn.Module:
    return MLP(shape, n_classes, **hp)


@register_model(
    "set",
    spec={
        "phi_hidden": ("widths+", [32, 32]),
        "context_widths": ("widths", [32]),
        "context_pooling": ("pooling", "mean"),
        "pooling": ("pooling", "max"),
        "rho_hidden": ("widths", [32]),
        "activation": ("activation", "relu"),
        "mask_padding": ("bool", True),
    },
    set_input=True,
    quant_twin="jetdistill.compress.quant:build_quant_set",
    chip=("rtl",),  # hls4ml 1.3.0 has no ONNX Reduce*/Unsqueeze/Equal handlers
    chip_limits=_set_chip_limits,
    hgq_twin="jetdistill.compress.hgq_models:build_hgq_set",
    hgq_limits=_lazy_limits("jetdistill.compress.hgq_models:set_limits"),
)
def _build_set(shape: tuple[int, ...], n_classes: int, **hp: Any) -> nn.Module:
    return SetStudent(shape[0], shape[1], n_classes, **hp)


class JEDILinear(nn.Module):
    """JEDI-linear's ``gnn`` (the peer of the chip frontier, :mod:`jetdistill.compress.peer`)
    in float: ``h_i = relu(W0 x_i)``; ``h_i <- relu(A h_i) + relu(B sum_j h_j / 2^round(log2
    n))``; ``relu(W1 h_i)``, a sum pool scaled by 1/16 and an MLP head. The peer trains its
    HGQ twin from scratch; this float model is what the registry builds for the type (a
    float student of the same architecture, for reference), without the twin's BatchNorm."""

    def __init__(self, n_const: int, n_feat: int, n_classes: int, *, width: int = 64,
                 head: Sequence[int] = (64, 32, 16)) -> None:  # fmt: skip
        super().__init__()
        self.pool = 2.0 ** -round(math.log2(n_const))
        self.embed = nn.Linear(n_feat, width)
        self.local = nn.Linear(width, width)
        self.context = nn.Linear(width, width)
        self.mix = nn.Linear(width, width)
        self.head = mlp_stack(width, list(head), "relu", final_activation=True)
        self.out = nn.Linear(list(head)[-1] if head else width, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.embed(x))
        g = torch.relu(self.context(h.sum(dim=1, keepdim=True) * self.pool))
        h = torch.relu(self.mix(torch.relu(self.local(h)) + g))
        return self.out(self.head(h.sum(dim=1) / 16))


@register_model(
    "jedi_linear",
    spec={"width": ("int+", 64), "head": ("widths", [64, 32, 16])},
    set_input=True,
    hgq_twin="jetdistill.compress.peer:build_hgq_jedi_linear",
)
def _build_jedi_linear(shape: tuple[int, ...], n_classes: int, **hp: Any) -> nn.Module:
    return JEDILinear(shape[0], shape[1], n_classes, **hp)


#: Registered type names (the config's ``models.<name>.type``).
MODEL_TYPES: tuple[str, ...] = tuple(MODEL_REGISTRY)


def _check_value(where: str, kind: str, value: Any) -> Any:
    def is_pos_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if kind in ("widths", "widths+"):
        ok = isinstance(value, (list, tuple)) and all(is_pos_int(v) for v in value)
        if not ok or (kind == "widths+" and len(value) == 0):
            need = "a non-empty list" if kind == "widths+" else "a list"
            raise InputError(where, f"{need} of positive integers", repr(value))
        return [int(v) for v in value]
    if kind == "int+":
        if not is_pos_int(value):
            raise InputError(where, "a positive integer", repr(value))
        return int(value)
    if kind == "fraction":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise InputError(where, "a number in [0, 1)", repr(value))
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise InputError(where, "true or false", repr(value))
        return value
    choices = {"activation": tuple(ACTIVATIONS), "pooling": POOLINGS, "edge_impl": EDGE_IMPLS}[kind]
    if value not in choices:
        raise InputError(where, f"one of {list(choices)}", repr(value))
    return value


def resolve_spec(spec: Mapping[str, Any], *, name: str | None = None) -> dict[str, Any]:
    """Validate a ``models.<name>`` block and return it with every default filled in.

    Unknown keys are errors (a typo such as ``fr_hiden`` would otherwise silently train
    the default architecture).
    """
    prefix = f"models.{name}" if name else "model spec"
    if not isinstance(spec, Mapping):
        raise InputError(prefix, "a mapping with a 'type' key", type(spec).__name__)
    mtype = spec.get("type")
    if mtype not in MODEL_REGISTRY:
        raise InputError(f"{prefix}.type", f"one of {list(MODEL_REGISTRY)}", repr(mtype))
    table = MODEL_REGISTRY[mtype].spec
    unknown = sorted(set(spec) - set(table) - COMMON_KEYS)
    if unknown:
        raise InputError(
            f"{prefix}.{unknown[0]}",
            f"a known {mtype} hyper-parameter ({', '.join(sorted(table))})",
            f"unknown key(s) {unknown}",
        )
    out: dict[str, Any] = {"type": mtype}
    for key, (kind, default) in table.items():
        out[key] = _check_value(f"{prefix}.{key}", kind, spec.get(key, default))
    return out


def build_model(
    spec: Mapping[str, Any],
    input_shape: Sequence[int],
    n_classes: int,
    *,
    name: str | None = None,
) -> nn.Module:
    """Build the model described by a ``models.<name>`` config block.

    ``input_shape`` excludes the batch axis: ``(C, F)`` for jet views (required by the
    interaction network and Deep Sets); the MLP accepts any rank and flattens.
    ``name`` is only used in error messages (``models.<name>.<key>``).
    """
    params = resolve_spec(spec, name=name)
    prefix = f"models.{name}" if name else "model spec"
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise InputError(f"{prefix} input_shape", "positive dimensions", repr(tuple(input_shape)))
    if not isinstance(n_classes, int) or n_classes < 2:
        raise InputError(f"{prefix} n_classes", "an integer >= 2", repr(n_classes))
    mtype = params.pop("type")
    entry = MODEL_REGISTRY[mtype]
    if entry.set_input and len(shape) != 2:
        raise InputError(
            f"{prefix} input_shape", f"(constituents, features) for {mtype}", repr(shape)
        )
    model = entry.build(shape, n_classes, **params)
    log.info("built %s %s: %d parameters", mtype, name or "", count_params(model))
    return model


def hgq_model_types() -> tuple[str, ...]:
    """Model types with an HGQ twin (``register_model(hgq_twin=...)``)."""
    return tuple(name for name, entry in MODEL_REGISTRY.items() if entry.hgq_twin)


def build_hgq_model(
    spec: Mapping[str, Any], shape: Sequence[int], n_classes: int, *, init_bits: int
) -> Any:
    """The HGQ2 twin (a ``keras.Model``) of the float student a ``models.<name>`` block builds.

    The spec is resolved like :func:`build_model`'s; a type without a twin, or a spec its
    ``hgq_limits`` refuses, is an :class:`InputError` naming the key and what is supported.
    """
    mtype = spec.get("type") if isinstance(spec, Mapping) else None
    if mtype not in hgq_model_types():
        raise InputError("model spec type", f"a type with an HGQ twin: one of {list(hgq_model_types())}",
                         repr(mtype))  # fmt: skip
    params = resolve_spec(spec)
    entry = MODEL_REGISTRY[params.pop("type")]
    shape = tuple(int(d) for d in shape)
    if entry.set_input and len(shape) != 2:
        raise InputError(f"{mtype} HGQ twin input_shape", "(constituents, features)", repr(shape))
    if entry.hgq_limits:
        bad = entry.hgq_limits({"type": mtype, **params}, shape[0] if entry.set_input else None)
        if bad:
            raise InputError(f"{mtype} HGQ twin: {bad[0]}", bad[1], bad[2])
    module, func = str(entry.hgq_twin).split(":")
    return getattr(importlib.import_module(module), func)(
        shape, n_classes, init_bits=init_bits, **params
    )


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_card(
    model: nn.Module, spec: Mapping[str, Any], input_shape: Sequence[int]
) -> dict[str, Any]:
    """JSON-ready summary for MLflow params and reports: type, parameter count, layer sizes."""
    resolved = resolve_spec(spec)
    layers = [
        {
            "name": n,
            "in": m.in_features,
            "out": m.out_features,
            "params": sum(p.numel() for p in m.parameters()),
        }
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear)
    ]
    card: dict[str, Any] = {
        "type": resolved["type"],
        "input_shape": [int(d) for d in input_shape],
        "params": count_params(model),
        "trainable_params": count_params(model, trainable_only=True),
        "layers": layers,
        "hyperparameters": {k: v for k, v in resolved.items() if k != "type"},
    }
    if isinstance(model, InteractionNetwork):
        card["n_edges"] = model.n_edges
    return card


# --------------------------------------------------------------------------- checkpoints
def checkpoint_meta(
    spec: Mapping[str, Any], input_shape: Sequence[int], n_classes: int, *, name: str | None = None
) -> dict[str, Any]:
    """What :func:`load_model` needs to rebuild a float model: stored in its checkpoint."""
    return {
        "kind": "float",
        "name": name,
        "spec": resolve_spec(spec, name=name),
        "input_shape": [int(d) for d in input_shape],
        "n_classes": int(n_classes),
    }


def load_model(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a float model from its self-describing checkpoint: ``(model in eval mode, meta)``."""
    from jetdistill.learn.training import checkpoint_meta as read_meta
    from jetdistill.learn.training import load_checkpoint

    meta = read_meta(path)
    if meta.get("kind") != "float":
        raise InputError(str(path), "a float model checkpoint", f"kind {meta.get('kind')!r}")
    model = build_model(meta["spec"], meta["input_shape"], meta["n_classes"], name=meta["name"])
    load_checkpoint(model, path)
    return model.eval(), meta
