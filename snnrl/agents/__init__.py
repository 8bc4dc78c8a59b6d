"""snnrl.agents: SB3 teachers and their zoo, ANN-to-SNN conversion with CRPI, policies under SB3's ``predict``
contract, closed-loop evaluation."""

import snnrl.envs  # noqa: F401  (registers the pixel tasks, so gym.make / gym.spec know their ids)
