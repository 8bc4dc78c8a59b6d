"""Exact conversion mode: float32 arithmetic from IF-neuron logic gates, after NEXUS (arXiv 2601.21279).

Our interpretation of the paper's abstract (see ``docs/methods.md`` §7): every value is spatially bit-encoded
(its 32 IEEE-754 bits are 32 parallel spikes in one timestep), and every operation a small MLP policy needs is a
circuit of IF neurons used as threshold gates, so the spiking network computes the same float32 numbers as the
ANN. The paper's energy claims are not reproduced here.

Modules (one concept each):

* :mod:`snnrl.exact.gates` — threshold gates (AND, OR, NOT, INHIBIT, MAJ, wide AND/OR, ``x ≥ k``), composite
  XOR / MUX / half adder / full adder (2 neurons each), bit-plane evaluation and :class:`GateMeter` counts;
* :mod:`snnrl.exact.bits` — spatial bit encoding of float32 tensors into bit planes;
* :mod:`snnrl.exact.blocks` — multi-bit adders, comparator, incrementer, shifters;
* :mod:`snnrl.exact.floats` — IEEE-754 binary32 multiply and add (RNE, subnormals, ±0, ±inf, NaN), ReLU;
* :mod:`snnrl.exact.tanh` — tanh as a piecewise polynomial of exact operations (≤ 1 ULP from ``torch.tanh``);
* :mod:`snnrl.exact.reference` — the same arithmetic in plain torch (``sequential_linear``, the actor);
* :mod:`snnrl.exact.network` / :mod:`snnrl.exact.policy` — the gate-level actor and its SB3-style policy,
  :func:`convert_exact`;
* :mod:`snnrl.exact.benchmark` — episode returns and energy per decision against the ANN and rate conversion.

Importing this package loads torch and numpy only; :mod:`snnrl.exact.benchmark` loads the control side
(stable-baselines3 / gymnasium) when imported.
"""

from snnrl.exact.bits import decode, encode
from snnrl.exact.floats import FLOAT_OP_NEURONS, ExactResult, exact_add, exact_mul
from snnrl.exact.gates import AND, NOT, OR, GateMeter, ThresholdGate
from snnrl.exact.policy import ExactSpikingPolicy, SequentialAnnPolicy, convert_exact
from snnrl.exact.reference import sequential_linear, ulp_distance
from snnrl.exact.tanh import TANH_ULP_BOUND, tanh_reference

__all__ = ["encode", "decode", "exact_mul", "exact_add", "ExactResult", "FLOAT_OP_NEURONS", "ThresholdGate",
           "GateMeter", "AND", "OR", "NOT", "sequential_linear", "ulp_distance", "tanh_reference", "TANH_ULP_BOUND",
           "convert_exact", "ExactSpikingPolicy", "SequentialAnnPolicy"]

