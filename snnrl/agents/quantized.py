"""MD-SNN for converted policies: post-conversion quantization and membrane-potential distillation.

:func:`quantize_spiking_actor` quantizes a :class:`~snnrl.agents.conversion.SpikingActor`'s synaptic layers with
LSQ quantizers (the analog first layer may stay full precision) and puts each IF neuron's potential on the grid
of the layer feeding it. :func:`distill_spiking_actor` fine-tunes such a student from the full-precision SNN
(the teacher) on observations from teacher rollouts: ``MSE(pre-action) + λ_mem · Σ MSE(pre-spike potentials)``,
through the IF neurons' surrogate gradients. See :mod:`snnrl.quantization` for the quantizers.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from snnrl.agents.conversion import SpikingActor
from snnrl.neurons import record_potentials
from snnrl.quantization import MembraneQuantizer, QuantLinear, check_bits

__all__ = ["quantize_spiking_actor", "distill_spiking_actor"]


def quantize_spiking_actor(actor: SpikingActor, *, bits: int, membrane_bits: int | None = None,
                           keep_first: bool = True) -> SpikingActor:
    """A quantized copy of ``actor`` (``keep_first``: the analog input layer stays full precision)."""
    check_bits(bits)
    q = copy.deepcopy(actor)
    feeding = [q.input_layer, *[m.layer for m in q.hidden_layers]]
    quantizers = [None] * len(feeding)
    if not keep_first:
        q.input_layer = QuantLinear(q.input_layer, bits)
        quantizers[0] = q.input_layer.weight_quantizer
    for i, wrapper in enumerate(q.hidden_layers):
        wrapper.layer = QuantLinear(wrapper.layer, bits)
        quantizers[i + 1] = wrapper.layer.weight_quantizer
    q.output_layer.layer = QuantLinear(q.output_layer.layer, bits)
    if membrane_bits is not None:
        for i, quantizer in enumerate(quantizers):
            if quantizer is not None:
                q.neurons[i] = MembraneQuantizer(q.neurons[i], quantizer, membrane_bits)
    return q


def _start(actor: SpikingActor, batch: int) -> list[torch.Tensor]:
    return [n.v_init.expand(batch, -1) for n in actor.neurons]


def distill_spiking_actor(student: SpikingActor, teacher: SpikingActor, observations: torch.Tensor, *,
                          timesteps: int, epochs: int = 5, batch_size: int = 256, lr: float = 1e-4,
                          membrane_weight: float = 0.1, generator: torch.Generator | None = None) -> list[float]:
    """Fine-tune ``student`` to match ``teacher``'s pre-actions and membrane potentials; returns epoch losses."""
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = []
    student.train()
    for _ in range(epochs):
        order = torch.randperm(len(observations), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            obs = observations[order[start:start + batch_size]]
            with torch.no_grad(), record_potentials(teacher) as t_pot:
                target = teacher.decide(obs, _start(teacher, len(obs)), timesteps).pre_action
                t_list = [torch.stack(v) for v in t_pot.values() if v]
            with record_potentials(student) as s_pot:
                out = student.decide(obs, _start(student, len(obs)), timesteps).pre_action
                s_list = [torch.stack(v) for v in s_pot.values() if v]
            loss = F.mse_loss(out, target)
            for vs, vt in zip(s_list, t_list):
                loss = loss + membrane_weight * F.mse_loss(vs, vt) / vt.pow(2).mean().clamp_min(1e-8)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        losses.append(total / max(1, batches))
    student.eval()
    return losses
