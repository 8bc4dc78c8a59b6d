"""benchmarks/action_noise.py: the noisy ANN adds white noise of the stated size and keeps actions in bounds."""

import numpy as np
from conftest import load_benchmark


class _Constant:
    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.full((len(observation), 2), 0.5, dtype=np.float32), state


def test_noisy_policy_adds_white_noise_of_sigma_and_clips_to_the_bounds():
    module = load_benchmark("action_noise")
    low, high = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    policy = module.NoisyPolicy(_Constant(), 0.1, low, high, seed=0)
    actions = np.concatenate([policy.predict(np.zeros((100, 3)))[0] for _ in range(50)])
    error = actions - 0.5
    assert abs(error.std() - 0.1) < 0.005 and abs(error.mean()) < 0.005
    assert abs(np.corrcoef(error[:-1, 0], error[1:, 0])[0, 1]) < 0.05        # white: no correlation in time
    loud = module.NoisyPolicy(_Constant(), 2.0, low, high, seed=0).predict(np.zeros((1000, 3)))[0]
    assert loud.min() == -1.0 and loud.max() == 1.0                           # clipped to the action bounds
