"""Convert a zoo teacher into a spiking policy and evaluate it with stable-baselines3's evaluate_policy.

Run: .venv/bin/python examples/convert_policy.py [teacher] (default td3-invertedpendulum)
"""

import sys

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from snnrl.agents.conversion import calibrate_thresholds, convert_actor
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import SpikingPolicy
from snnrl.agents.zoo import load_teacher
from snnrl.envs.closed_loop import ClosedLoop

name = sys.argv[1] if len(sys.argv) > 1 else "td3-invertedpendulum"
actor, entry = load_teacher(name)
policy = SpikingPolicy(convert_actor(actor, calibrate_thresholds(actor)), timesteps=8, crpi=CRPIConfig(alpha=0.5))

venv = make_vec_env(entry["env_id"], n_envs=2, seed=0)
mean, std = evaluate_policy(policy, venv, n_eval_episodes=4)
print(f"{name}: spiking policy return {mean:.1f} ± {std:.1f} (ANN in the zoo: {entry['return_mean']:.1f})")

env = ClosedLoop(gym.make(entry["env_id"]), policy)   # the policy acts inside the env
env.reset(seed=0)
while True:
    _, _, terminated, truncated, info = env.step(None)
    if terminated or truncated:
        energy = info["energy"]
        print(f"episode of {energy['steps']} steps: {energy['energy_per_decision_pj'] / 1000:.1f} nJ per decision, "
              f"spikes per layer {energy['spikes_per_layer']}")
        break
