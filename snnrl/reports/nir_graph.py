"""NIR graphs (the Neuromorphic Intermediate Representation, PyPI ``nir``) of converted actors and continual backbones.

:func:`actor_to_nir` / :func:`policy_to_nir` write a converted actor (:class:`~snnrl.agents.conversion.SpikingActor`)
as the chain ``Input → Affine → IF → (Affine → IF)* → Affine → Output``; :func:`backbone_to_nir` writes a
:class:`~snnrl.continual.backbones.SpikingMLP` or :class:`~snnrl.continual.backbones.SpikingConvNet` as
``Input → (Flatten | Affine | Conv2d | AvgPool2d | LIF)* → Affine → Output``. :func:`actor_from_nir`,
:func:`policy_from_nir` and :func:`backbone_from_nir` read them back; ours → NIR → ours is bit-identical.

Conventions (discrete time, one NIR evaluation per timestep; the readers of snnTorch and Norse agree on them):

* ``IF``: ``r = 1`` — one input unit per step, ``v += x``; ``v_threshold = θ`` (per neuron), ``v_reset = 0``.
* ``LIF``: snnTorch's ``dt = 1e-4``: ``τ = dt / (1 − β)`` and ``r = τ / dt``, so an Euler step of
  ``τ·v̇ = −v + r·x`` is ``v ← β·v + x``; ``v_leak = 0``. (``decay_input``: ``r = 1``, the step is
  ``v ← β·v + (1 − β)·x``.)

What NIR cannot say (NIR's IF and LIF reset *to* ``v_reset`` and start at 0; it has no clamp, no time average and no
squashing node) is kept in metadata, which our readers use and other readers ignore: per neuron node
``snnrl_reset`` (``"subtract"``: ``v −= θ·s``), ``snnrl_v_init`` (the start potential, ``θ/2`` for converted
actors, staggered for a population), ``snnrl_beta``, ``snnrl_reset_delay`` and ``snnrl_decay_input`` (LIF); per
graph ``snnrl_config`` (JSON: kind, ``T``, squashing, CRPI), ``obs_low``/``obs_high`` (the observation clamp
before the first layer), ``action_low``/``action_high``, and ``snnrl_not_in_nir``, a sentence per semantic a plain
NIR reader loses.
:func:`clamp_observation` and :func:`readout_action` apply the actor's input and output conventions for a peer
simulator's per-step outputs. ``docs/nir.md`` lists the gaps and the measured drift of peers' re-imports.

Example
-------
>>> import torch
>>> from snnrl.continual.backbones import make_backbone
>>> net = make_backbone("mlp", (1, 4, 4), 3, hidden=(8,), timesteps=2)
>>> graph = backbone_to_nir(net)
>>> [type(graph.nodes[n]).__name__ for n in ("flatten_0", "affine_1", "lif_2", "classifier")]
['Flatten', 'Affine', 'LIF', 'Affine']
>>> x = torch.rand(5, 1, 4, 4)
>>> torch.equal(backbone_from_nir(graph)(x), net(x))
True
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnrl.agents.conversion import SpikingActor
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.continual.backbones import SpikingBackbone, SpikingConvNet, SpikingMLP, make_backbone
from snnrl.io import atomic_write_bytes
from snnrl.layers import MultiStep, SpikingSequential
from snnrl.neurons import IFNeuron, LIFNeuron

__all__ = ["NIRError", "LIF_DT", "NOT_IN_NIR", "actor_to_nir", "policy_to_nir", "actor_from_nir", "policy_from_nir",
           "backbone_to_nir", "backbone_from_nir", "clamp_observation", "readout_action", "nir_semantics",
           "PEERS", "peer_outputs",
           "write_nir", "read_nir"]

LIF_DT = 1e-4
"""The time step LIF nodes' ``τ`` and ``r`` assume (snnTorch's export convention)."""

NOT_IN_NIR: dict[str, str] = {
    "fire_at_threshold": "our neurons fire at v >= theta, NIR's at v > theta (they differ when v == theta exactly).",
    "reset_subtract": "IF/LIF reset by subtraction (v -= theta*s); NIR's IF and LIF reset to v_reset.",
    "start_potential": "converted actors start every decision at v = theta/2 (a population's copies staggered "
                       "in [0, theta)); NIR neurons start at 0.",
    "crpi_carry": "the CRPI carry: the residual potential of one decision seeds the next (SpikingPolicy state).",
    "output_accumulation": "the output layer is non-spiking and read as its mean over the T steps of a decision.",
    "action_squash": "the action is the teacher's squashing of that mean (tanh to [action_low, action_high], or "
                     "a clip); NIR has no such node.",
    "observation_clamp": "the observation is clamped to [obs_low, obs_high] (folded normalisation clip) before "
                         "the first layer; NIR has no clamp node.",
    "lif_reset_delay": "snnTorch-style LIF subtracts a spike at the next step (reset_delay); NIR resets at once.",
}
"""What the exported graphs carry only in metadata, by key (``snnrl_not_in_nir`` joins the ones that apply)."""

_FORMAT = 1
_ACTOR_GAPS = ("fire_at_threshold", "reset_subtract", "start_potential", "crpi_carry", "output_accumulation",
               "action_squash", "observation_clamp")


class NIRError(ValueError):
    """A network or graph outside what this module writes or reads."""


def _nir():  # noqa: ANN202 - the nir module
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - nir is a runtime dependency
        raise ImportError("NIR export needs the 'nir' package: pip install nir==1.0.8") from exc
    return nir


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32, copy=True)


def _affine(layer: nn.Linear):  # noqa: ANN202
    bias = _np(layer.bias) if layer.bias is not None else np.zeros(layer.out_features, np.float32)
    return _nir().Affine(weight=_np(layer.weight), bias=bias)


def _if_node(neuron: IFNeuron, width: int):  # noqa: ANN202
    if neuron.signed or neuron.reset != "subtract":
        raise NIRError(f"only unsigned soft-reset IF neurons export, got {neuron.extra_repr()}.")
    theta = _np(neuron.threshold.expand(width))
    return _nir().IF(r=np.ones(width, np.float32), v_threshold=theta, v_reset=np.zeros(width, np.float32),
                     metadata={"snnrl_reset": "subtract", "snnrl_v_init": _np(neuron.v_init.expand(width))})


def _lif_node(neuron: LIFNeuron, shape: tuple[int, ...]):  # noqa: ANN202
    if type(neuron) is not LIFNeuron:
        raise NIRError(f"{type(neuron).__name__} has no NIR node (learned or extra state); only LIFNeuron and "
                       "IFNeuron export. Build the backbone with neuron='lif'.")
    beta = float(neuron.beta)
    if not 0.0 <= beta < 1.0:
        raise NIRError(f"LIF with beta={beta} has no finite NIR time constant; use an IF neuron for beta = 1.")
    tau = np.full(shape, LIF_DT / (1.0 - beta), np.float32)
    r = np.ones(shape, np.float32) if neuron.decay_input else tau / np.float32(LIF_DT)
    theta = np.broadcast_to(_np(neuron.threshold), shape).astype(np.float32)
    return _nir().LIF(tau=tau, r=r, v_leak=np.zeros(shape, np.float32), v_threshold=theta,
                      v_reset=np.zeros(shape, np.float32),
                      metadata={"snnrl_reset": neuron.reset, "snnrl_beta": beta,
                                "snnrl_reset_delay": int(neuron.reset_delay),
                                "snnrl_decay_input": int(neuron.decay_input)})


def _chain_graph(nodes: list[tuple[str, Any]], in_shape: Sequence[int], out_shape: Sequence[int],
                 metadata: dict[str, Any]):  # noqa: ANN202
    nir = _nir()
    named = {"input": nir.Input(input_type={"input": np.array(in_shape)}), **dict(nodes),
             "output": nir.Output(output_type={"output": np.array(out_shape)})}
    order = list(named)
    return nir.NIRGraph(nodes=named, edges=list(zip(order[:-1], order[1:])), metadata=metadata, type_check=False)


def _chain_nodes(graph: Any) -> list[tuple[str, Any]]:
    """The nodes between ``Input`` and ``Output`` of a chain graph, in order."""
    nir = _nir()
    successors: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        successors.setdefault(src, []).append(dst)
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise NIRError(f"expected a graph with one Input node, found {len(inputs)}.")
    chain, name = [], inputs[0]
    while True:
        nxt = successors.get(name, [])
        if len(nxt) != 1:
            raise NIRError(f"node {name!r} has {len(nxt)} successors; only chains (no branches, no recurrence) "
                           "read back into snnrl modules.")
        name = nxt[0]
        node = graph.nodes[name]
        if isinstance(node, nir.Output):
            return chain
        chain.append((name, node))
        if len(chain) > len(graph.nodes):
            raise NIRError("the graph's edges form a cycle; only chains read back.")


def _config(graph: Any, kind: str) -> dict[str, Any]:
    meta = getattr(graph, "metadata", None) or {}
    raw = meta.get("snnrl_config")
    if raw is None:
        raise NIRError(f"the graph has no 'snnrl_config' metadata: it was not written by snnrl.reports.nir_graph, "
                       f"so the {kind} conventions (action bounds, squashing, T) are unknown.")
    config = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    if config.get("kind") != kind or config.get("format") != _FORMAT:
        raise NIRError(f"expected an snnrl {kind!r} graph of format {_FORMAT}, got kind {config.get('kind')!r} "
                       f"format {config.get('format')!r}.")
    return config


def _metadata_value(meta: dict[str, Any], key: str, default: Any = None) -> Any:
    value = meta.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


def _tensor(a: Any) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float32, copy=True))


def _linear(node: Any) -> nn.Linear:
    weight = np.asarray(node.weight)
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(_tensor(weight))
        layer.bias.copy_(_tensor(node.bias))
    return layer


# -- converted actors -------------------------------------------------------------------------------------
def actor_to_nir(actor: SpikingActor, *, timesteps: int | None = None, crpi: CRPIConfig | None = None):  # noqa: ANN201
    """The NIR graph of a converted actor (``T`` and CRPI settings, when given, are kept in metadata).

    Returns
    -------
    nir.NIRGraph
        ``input → input_layer → if_0 → hidden_layer_0 → if_1 → … → output_layer → output``.
    """
    if not isinstance(actor, SpikingActor):
        raise NIRError(f"actor_to_nir takes a SpikingActor (snnrl.agents.conversion.convert_actor), got "
                       f"{type(actor).__name__}.")
    nodes: list[tuple[str, Any]] = [("input_layer", _affine(actor.input_layer))]
    for index, neuron in enumerate(actor.neurons):
        if index:
            nodes.append((f"hidden_layer_{index - 1}", _affine(actor.hidden_layers[index - 1].layer)))
        nodes.append((f"if_{index}", _if_node(neuron, neuron.threshold.numel())))
    nodes.append(("output_layer", _affine(actor.output_layer.layer)))
    config = {"kind": "actor", "format": _FORMAT, "squash": actor.squash, "timesteps": timesteps,
              "crpi": None if crpi is None else {"alpha": crpi.alpha, "floor_spikes": crpi.floor_spikes,
                                                 "reset_on_episode_start": crpi.reset_on_episode_start}}
    gaps = [g for g in _ACTOR_GAPS if not (g == "crpi_carry" and crpi is None)
            and not (g == "observation_clamp" and actor.obs_low is None)]
    metadata: dict[str, Any] = {"snnrl_config": json.dumps(config), "action_low": _np(actor.action_low),
                                "action_high": _np(actor.action_high),
                                "snnrl_not_in_nir": " ".join(NOT_IN_NIR[g] for g in gaps)}
    if actor.obs_low is not None:
        metadata.update(obs_low=_np(actor.obs_low), obs_high=_np(actor.obs_high))
    return _chain_graph(nodes, (actor.obs_dim,), (actor.action_dim,), metadata)


def policy_to_nir(policy: SpikingPolicy):  # noqa: ANN201
    """:func:`actor_to_nir` of ``policy.actor`` with its ``T`` and CRPI settings."""
    return actor_to_nir(policy.actor, timesteps=policy.timesteps, crpi=policy.crpi)


def actor_from_nir(graph: Any) -> SpikingActor:
    """The :class:`~snnrl.agents.conversion.SpikingActor` of a graph written by :func:`actor_to_nir`."""
    nir = _nir()
    config = _config(graph, "actor")
    chain = [node for _, node in _chain_nodes(graph)]
    kinds = [type(n).__name__ for n in chain]
    pattern = ["Affine", "IF"] + ["Affine", "IF"] * ((len(chain) - 3) // 2) + ["Affine"]
    if kinds != pattern or len(chain) < 3:
        raise NIRError(f"an actor graph is Affine, IF, (Affine, IF)*, Affine; got {kinds}.")
    neurons = [n for n in chain if isinstance(n, nir.IF)]
    thresholds = [_tensor(n.v_threshold) for n in neurons]
    starts = []
    for index, (node, theta) in enumerate(zip(neurons, thresholds)):
        reset = _metadata_value(node.metadata, "snnrl_reset", "zero")
        v_init = node.metadata.get("snnrl_v_init")
        start = None if v_init is None else _tensor(v_init)
        if (reset != "subtract" or start is None or start.shape != theta.shape
                or not bool(((start >= 0) & (start < theta)).all())):
            raise NIRError(f"IF node {index} has reset {reset!r} and start potential {v_init!r}: a converted actor "
                           "needs reset by subtraction and a start potential in [0, theta) per neuron, theta/2 "
                           "after plain conversion (snnrl metadata).")
        starts.append(start)
    meta = graph.metadata
    obs_low = _tensor(meta["obs_low"]) if "obs_low" in meta else None
    obs_high = _tensor(meta["obs_high"]) if "obs_high" in meta else None
    layers = [_linear(n) for n in chain if isinstance(n, nir.Affine)]
    actor = SpikingActor(layers[0], layers[1:-1], layers[-1], thresholds, obs_low=obs_low, obs_high=obs_high,
                         action_low=_tensor(meta["action_low"]), action_high=_tensor(meta["action_high"]),
                         squash=config["squash"]).eval()
    for neuron, start in zip(actor.neurons, starts):
        neuron.v_init = start                          # θ/2, or a population's staggered starts
    return actor


def policy_from_nir(graph: Any, *, timesteps: int | None = None) -> SpikingPolicy:
    """The :class:`~snnrl.agents.policy.SpikingPolicy` of a graph from :func:`policy_to_nir` (``timesteps``
    overrides the saved ``T``; it is required when the graph has none)."""
    config = _config(graph, "actor")
    steps = timesteps if timesteps is not None else config["timesteps"]
    if steps is None:
        raise NIRError("the graph records no T (exported with actor_to_nir without timesteps); pass timesteps=.")
    crpi = None if config["crpi"] is None else CRPIConfig(**config["crpi"])
    return SpikingPolicy(actor_from_nir(graph), timesteps=steps, crpi=crpi)


def clamp_observation(graph: Any, obs: torch.Tensor) -> torch.Tensor:
    """The observation clamp of an actor graph (``obs_low``/``obs_high`` metadata), for a peer's input."""
    meta = graph.metadata
    if "obs_low" not in meta:
        return obs
    return torch.clamp(obs, _tensor(meta["obs_low"]), _tensor(meta["obs_high"]))


def readout_action(graph: Any, outputs: torch.Tensor) -> torch.Tensor:
    """Actions ``[B, action_dim]`` from a peer's per-step outputs ``[T, B, action_dim]`` of an actor graph: the
    time mean, squashed to the action bounds as the converted actor does."""
    config = _config(graph, "actor")
    low, high = _tensor(graph.metadata["action_low"]), _tensor(graph.metadata["action_high"])
    mean = outputs.mean(0)
    if config["squash"] == "tanh":
        return low + 0.5 * (torch.tanh(mean) + 1.0) * (high - low)
    return torch.maximum(torch.minimum(mean, high), low)


# -- continual backbones ------------------------------------------------------------------------------------
def backbone_to_nir(backbone: SpikingBackbone):  # noqa: ANN201
    """The NIR graph of a :class:`~snnrl.continual.backbones.SpikingMLP` or
    :class:`~snnrl.continual.backbones.SpikingConvNet` (LIF or IF neurons); one NIR evaluation per timestep."""
    nir = _nir()
    if not isinstance(backbone, (SpikingMLP, SpikingConvNet)):
        raise NIRError(f"{type(backbone).__name__} does not export: NIR graphs are written for SpikingMLP and "
                       "SpikingConvNet (SpikingResNet19's BatchNorm and residual adds are not supported).")
    shape = tuple(backbone.in_shape)
    nodes: list[tuple[str, Any]] = []
    arch: dict[str, Any] = {"hidden": []} if isinstance(backbone, SpikingMLP) else {"channels": []}
    modules = list(backbone.features)
    for index, module in enumerate(modules):
        layer = module.layer if isinstance(module, MultiStep) else module
        if isinstance(layer, nn.Flatten):
            # dims count the batch, as torch and the peers' readers (snnTorch, Norse) apply them
            node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=layer.start_dim,
                               end_dim=layer.end_dim)
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, nn.Linear):
            node, shape = _affine(layer), (layer.out_features,)
            arch["hidden"] = layer.out_features if "channels" in arch else arch["hidden"] + [layer.out_features]
        elif isinstance(layer, nn.Conv2d):
            if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                raise NIRError(f"Conv2d {index} uses padding {layer.padding!r}/{layer.padding_mode!r}; only zero "
                               "padding given as integers exports.")
            bias = _np(layer.bias) if layer.bias is not None else np.zeros(layer.out_channels, np.float32)
            node = nir.Conv2d(input_shape=shape[1:], weight=_np(layer.weight), stride=layer.stride,
                              padding=layer.padding, dilation=layer.dilation, groups=layer.groups, bias=bias)
            shape = (layer.out_channels, *(int(s) for s in node.output_type["output"][1:]))
            arch["channels"].append(layer.out_channels)
        elif isinstance(layer, nn.AvgPool2d):
            k, s, p = (_pair(v) for v in (layer.kernel_size, layer.stride or layer.kernel_size, layer.padding))
            node = nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
            shape = (shape[0], *((h + 2 * pp - kk) // ss + 1 for h, kk, ss, pp in zip(shape[1:], k, s, p)))
        elif isinstance(layer, IFNeuron):
            node = _if_node(layer, int(np.prod(shape)))
        elif isinstance(layer, LIFNeuron):
            node = _lif_node(layer, shape)
        else:
            raise NIRError(f"feature layer {index} ({type(layer).__name__}) has no NIR node here; exported are "
                           "Flatten, Linear, Conv2d, AvgPool2d, LIFNeuron and IFNeuron.")
        nodes.append((f"{type(node).__name__.lower()}_{index}", node))
    nodes.append(("classifier", _affine(backbone.classifier.layer)))
    name = "mlp" if isinstance(backbone, SpikingMLP) else "conv"
    config = {"kind": "backbone", "format": _FORMAT, "backbone": name, "in_shape": list(backbone.in_shape),
              "num_classes": backbone.num_classes, "timesteps": backbone.timesteps, "encoding": backbone.encoding,
              "seed": backbone.seed, "arch": arch}
    neurons = [n.metadata for _, n in nodes if isinstance(n, (nir.IF, nir.LIF))]
    gaps = ["fire_at_threshold", "output_accumulation"]
    gaps += ["reset_subtract"] if any(m["snnrl_reset"] == "subtract" for m in neurons) else []
    gaps += ["lif_reset_delay"] if any(m.get("snnrl_reset_delay") for m in neurons) else []
    metadata = {"snnrl_config": json.dumps(config), "snnrl_not_in_nir": " ".join(NOT_IN_NIR[g] for g in gaps)}
    return _chain_graph(nodes, backbone.in_shape, (backbone.num_classes,), metadata)


def _neuron(node: Any, index: int) -> nn.Module:
    nir = _nir()
    meta = node.metadata
    reset = _metadata_value(meta, "snnrl_reset", "zero")
    if np.any(np.asarray(node.v_reset) != 0):
        raise NIRError(f"neuron node {index} resets to a non-zero v_reset; snnrl neurons reset to 0.")
    thetas = np.asarray(node.v_threshold, dtype=np.float32)
    theta: float | torch.Tensor = float(thetas.flat[0]) if np.unique(thetas).size == 1 else _tensor(thetas)
    if isinstance(node, nir.IF):
        v_init = meta.get("snnrl_v_init", 0.0)
        return IFNeuron(theta, reset=reset, v_init=_tensor(v_init))
    if np.any(np.asarray(node.v_leak) != 0):
        raise NIRError(f"LIF node {index} has a non-zero v_leak; snnrl's LIF leaks towards 0.")
    beta = meta.get("snnrl_beta")
    tau = np.asarray(node.tau, dtype=np.float64)
    if beta is None:
        betas = np.unique(1.0 - LIF_DT / tau)
        if betas.size != 1:
            raise NIRError(f"LIF node {index} has per-neuron time constants; snnrl's LIF has one beta per layer.")
        beta = float(betas[0])
    decay_input = bool(meta.get("snnrl_decay_input", np.allclose(node.r, 1.0)))
    return LIFNeuron(float(beta), theta, reset=reset, reset_delay=bool(meta.get("snnrl_reset_delay", 0)),
                     decay_input=decay_input)


def backbone_from_nir(graph: Any) -> SpikingBackbone:
    """The backbone of a graph written by :func:`backbone_to_nir`: same class, weights and neurons."""
    nir = _nir()
    config = _config(graph, "backbone")
    chain = _chain_nodes(graph)
    if not chain or not isinstance(chain[-1][1], nir.Affine):
        raise NIRError("a backbone graph ends with the classifier's Affine node.")
    modules: list[nn.Module] = []
    for index, (_, node) in enumerate(chain[:-1]):
        if isinstance(node, nir.Flatten):
            modules.append(nn.Flatten(int(node.start_dim), int(node.end_dim)))
        elif isinstance(node, nir.Affine):
            modules.append(_linear(node))
        elif isinstance(node, nir.Conv2d):
            weight = np.asarray(node.weight)
            conv = nn.Conv2d(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[2:]),
                             stride=tuple(int(s) for s in node.stride), padding=tuple(int(p) for p in node.padding),
                             dilation=tuple(int(d) for d in node.dilation), groups=int(node.groups))
            with torch.no_grad():
                conv.weight.copy_(_tensor(weight))
                conv.bias.copy_(_tensor(node.bias))
            modules.append(conv)
        elif isinstance(node, nir.AvgPool2d):
            modules.append(nn.AvgPool2d(tuple(int(k) for k in node.kernel_size), tuple(int(s) for s in node.stride),
                                        tuple(int(p) for p in node.padding)))
        elif isinstance(node, (nir.IF, nir.LIF)):
            modules.append(_neuron(node, index))
        else:
            raise NIRError(f"node {index} is a {type(node).__name__}; backbones read Flatten, Affine, Conv2d, "
                           "AvgPool2d, IF and LIF nodes.")
    net = make_backbone(config["backbone"], tuple(config["in_shape"]), config["num_classes"],
                        timesteps=config["timesteps"], encoding=config["encoding"], seed=config["seed"],
                        **config["arch"])
    net.features = SpikingSequential(*modules, sample_ndim=len(config["in_shape"]), check_finite=False)
    net.classifier = MultiStep(_linear(chain[-1][1]))
    return net.eval()


def nir_semantics(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose neurons do what a plain NIR reader simulates from our graphs: IF neurons reset to 0
    and start at 0, LIF neurons reset to 0 at once (no ``reset_delay``); firing stays at ``v >= θ`` (a peer's
    ``v > θ`` differs only on exact ties). The difference between ``net`` and this
    copy is the drift the metadata-only semantics (:data:`NOT_IN_NIR`) cause in a peer's re-import."""
    import copy

    out = copy.deepcopy(net)
    for module in list(out.modules()):
        for name, child in list(module.named_children()):
            if type(child) is IFNeuron:
                setattr(module, name, IFNeuron(child.threshold, reset="zero", v_init=torch.zeros_like(child.v_init),
                                               step_mode=child.step_mode))
            elif type(child) is LIFNeuron:
                setattr(module, name, LIFNeuron(float(child.beta), child.threshold, reset="zero", reset_delay=False,
                                                decay_input=child.decay_input, step_mode=child.step_mode))
    return out


PEERS = ("norse", "snntorch")
"""Peer libraries :func:`peer_outputs` can simulate a graph in (each must be installed)."""


@torch.no_grad()
def peer_outputs(graph: Any, inputs: torch.Tensor, *, peer: str) -> torch.Tensor:
    """Per-step outputs ``[T, B, ...]`` of ``graph`` re-imported and run by a peer library on ``inputs [T, B, ...]``.

    ``peer="norse"`` uses ``norse.torch.from_nir`` (IF: ``v += x``, fire at ``v > θ``, reset to 0; its LIF reads
    ``r = 1``); ``peer="snntorch"`` uses ``snntorch.import_nir.import_from_nir`` (LIF only: ``Leaky`` with
    ``β = 1 − dt/τ``, ``dt = 1e-4``, reset to zero; its IF import fails in snnTorch 1.0.0). Both start at 0.
    """
    if peer == "norse":
        import norse.torch

        module = norse.torch.from_nir(graph)
    elif peer == "snntorch":
        from snntorch.import_nir import import_from_nir

        module = import_from_nir(graph)
    else:
        raise ValueError(f"peer must be one of {PEERS}, got {peer!r}.")
    state, outputs = None, []
    for x in inputs:
        y, state = module(x) if state is None else module(x, state)
        outputs.append(y)
    return torch.stack(outputs)


# -- files ------------------------------------------------------------------------------------------------------
def write_nir(graph: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` as a NIR (HDF5) file, atomically."""
    buffer = io.BytesIO()
    _nir().write(buffer, graph)
    return atomic_write_bytes(path, buffer.getvalue())


def read_nir(path: str | os.PathLike[str]):  # noqa: ANN201
    """Read a NIR file (``nir.read``), with its graph and node metadata."""
    return _nir().read(str(path), type_check=False)
