"""snnrl: spiking neural networks for reinforcement learning and continual learning.

The package root holds the shared spiking core (neurons, surrogate gradients, multi-step layers, network
state, operation counting, file I/O). It imports torch only: the control side (:mod:`snnrl.agents`,
:mod:`snnrl.envs`) loads stable-baselines3 and gymnasium, the continual side (:mod:`snnrl.continual`)
loads Avalanche, each only when imported.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
