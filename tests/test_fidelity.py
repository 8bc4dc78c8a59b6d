"""Control fidelity: rate-error-optimal thresholds, bias calibration, DAgger distillation, the fidelity score,
recipes, the tuning rule, and `snnrl convert` -> file -> load."""

from __future__ import annotations

import copy

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from snnrl.agents.calibration import calibrate_biases, mse_thresholds, rate_error, rate_quantise
from snnrl.agents.conversion import convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.distillation import DistillationConfig, QCFS, distill_actor
from snnrl.agents.policy import ConstantPolicy, SpikingPolicy, load_policy_set, save_policy_set
from snnrl.agents.recipe import Recipe
from snnrl.io import ArtifactError
from snnrl.sweeps.statistics import fidelity_score

from conftest import random_actor


# -- thresholds ------------------------------------------------------------------------------------------------
def test_rate_quantise_is_what_an_if_neuron_passes_on():
    # theta = 1, T = 4: a = 0.3 -> floor(1.2 + 0.5) = 1 spike -> 0.25; 0.4 -> floor(2.1) = 2 -> 0.5; 5 -> clipped to 1
    got = rate_quantise(torch.tensor([0.3, 0.4, 5.0, -1.0]), torch.tensor(1.0), 4)
    assert torch.allclose(got, torch.tensor([0.25, 0.5, 1.0, 0.0]))
    snn = convert_actor(random_actor(widths=(1, 1, 1)), [torch.tensor([1.0])])         # the converted neuron agrees
    with torch.no_grad():
        snn.input_layer.weight.fill_(1.0), snn.input_layer.bias.zero_()
        counts = snn.decide(torch.tensor([[0.3], [0.4]]), [torch.tensor([[0.5], [0.5]])], 4).spike_counts[0]
    assert counts.flatten().tolist() == [1.0, 2.0]


def test_mse_threshold_on_a_hand_example():
    # activations 1 and 2, T = 1: theta = 2 or 1 -> one of them off by 1 (MSE 0.5); theta = 1.5 -> both off by 0.5
    # (MSE 0.25); any theta in (1, 2) other than 1.5 is worse for one of them, so 1.5 (= 2 * 72/96 on the grid).
    acts = [torch.tensor([[1.0], [2.0]])]
    theta = mse_thresholds(acts, 1)[0]
    assert theta.tolist() == [1.5]
    assert rate_error(acts[0], theta, 1).item() == pytest.approx(0.25)
    assert rate_error(acts[0], torch.tensor([2.0]), 1).item() == pytest.approx(0.5)


def test_mse_thresholds_never_lose_to_the_max_and_clip_outliers():
    g = torch.Generator().manual_seed(0)
    acts = [torch.rand(2000, 8, generator=g) ** 3 * 4]                   # skewed: rare large values
    for t in (2, 4, 8):
        best, top = mse_thresholds(acts, t)[0], thresholds_from_activations(acts)[0]
        assert (rate_error(acts[0], best, t) <= rate_error(acts[0], top, t) + 1e-7).all()
        assert (best < top).all()                                         # clips the rare peaks
    per_layer = mse_thresholds(acts, 4, per_neuron=False)[0]
    assert torch.unique(per_layer).numel() == 1


# -- bias calibration -------------------------------------------------------------------------------------------
def _layer_errors(snn, actor, obs, t):
    v0 = [n.v_init.expand(obs.shape[0], -1) for n in snn.neurons]
    with torch.no_grad():
        d = snn.decide(obs, v0, t)
        rates = [c * n.threshold / t for c, n in zip(d.spike_counts, snn.neurons)]
        return [(a - r).mean(0) for a, r in zip(actor.hidden_activations(obs), rates)]


def test_bias_calibration_removes_a_known_mean_error():
    # One hidden neuron, a = obs uniform on [0, 1/2], theta = 1, T = 1: one spike iff a + 1/2 >= 1, so q = 0 and
    # the mean error is E[a] = 1/4. With a bias delta, q = 1 iff a >= 1/2 - delta, so E[q] = 2*delta: the error
    # vanishes at delta = 1/8 (adding the measured 1/4, as in one step, would give E[q] = 1/2 and error -1/4).
    actor = random_actor(widths=(1, 1, 1))
    with torch.no_grad():
        actor.hidden[0].weight.fill_(1.0), actor.hidden[0].bias.zero_()
    obs = torch.linspace(0, 0.5, 1001).unsqueeze(1)
    snn = convert_actor(actor, [torch.tensor([1.0])])
    before = _layer_errors(snn, actor, obs, 1)[0].item()
    assert before == pytest.approx(0.25, abs=1e-3)
    calibrated = calibrate_biases(snn, actor, obs, 1)
    assert calibrated.input_layer.bias.item() == pytest.approx(0.125, abs=2e-3)
    assert abs(_layer_errors(calibrated, actor, obs, 1)[0].item()) < 0.01
    assert snn.input_layer.bias.item() == 0.0                              # the original is left alone


def test_bias_calibration_shrinks_every_layers_mean_error_on_a_random_net():
    actor = random_actor()
    obs = torch.randn(4000, 3)
    snn = convert_actor(actor, mse_thresholds(actor.hidden_activations(obs), 4))
    calibrated = calibrate_biases(snn, actor, obs, 4)
    for b, a in zip(_layer_errors(snn, actor, obs, 4), _layer_errors(calibrated, actor, obs, 4)):
        assert a.abs().mean() < 0.5 * b.abs().mean()
    with torch.no_grad():
        pre = lambda m: m.decide(obs, [n.v_init.expand(len(obs), -1) for n in m.neurons], 4).pre_action  # noqa: E731
        target = actor.head(actor.hidden(obs))
        assert (target - pre(calibrated)).mean(0).abs().max() < 1e-4      # the output layer's mean error is removed
    with_crpi = calibrate_biases(snn, actor, obs, 4, crpi=CRPIConfig(alpha=1.0))  # measured under CRPI: differs
    assert not torch.equal(with_crpi.input_layer.bias, calibrated.input_layer.bias)


# -- distillation ----------------------------------------------------------------------------------------------
def test_qcfs_forward_is_the_if_rate_and_its_gradient_passes_straight_through():
    act = QCFS(torch.tensor([1.0, 1.0]), timesteps=4)
    z = torch.tensor([0.3, 2.0], requires_grad=True)
    out = act(z)
    assert torch.allclose(out, rate_quantise(z.detach(), torch.tensor(1.0), 4))
    out.sum().backward()
    assert z.grad.tolist() == [1.0, 0.0] and act.theta.grad.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("student", ["spiking", "qcfs"])
def test_dagger_labels_the_states_the_spiking_policy_visits_with_the_teachers_actions(student, monkeypatch):
    import snnrl.agents.distillation as distillation
    from snnrl.agents.zoo import load_teacher

    actor, _ = load_teacher("td3-invertedpendulum")
    start = torch.randn(64, 4) * 0.05
    visited, fits = [], []
    real_visited, real_fit = distillation.visited_states, distillation.fit_actions

    def spy_visited(policy, env_id, **kwargs):
        assert isinstance(policy, SpikingPolicy) and policy.timesteps == 4   # the spiking policy acts
        states = real_visited(policy, env_id, **kwargs)
        visited.append(states)
        return states

    def spy_fit(model, states, targets, *args):
        fits.append((states.clone(), targets.clone()))
        return real_fit(model, states, targets, *args)

    monkeypatch.setattr(distillation, "visited_states", spy_visited)
    monkeypatch.setattr(distillation, "fit_actions", spy_fit)
    config = DistillationConfig(rounds=2, rollout_steps=40, envs=4, epochs=1)
    thresholds = thresholds_from_activations(actor.hidden_activations(start))
    snn = distill_actor(actor, "InvertedPendulum-v5", thresholds, 4, start, student=student, config=config)
    assert len(visited) == 2 and len(fits) == 3 and all(v.shape == (40, 4) for v in visited)
    states, targets = fits[-1]                                             # the last fit sees all of it
    assert torch.equal(states, torch.cat([start, *visited]))
    with torch.no_grad():
        assert torch.equal(targets, actor(states))                         # labelled by the teacher
    assert not torch.equal(visited[0], visited[1])                          # new rollouts each round
    assert isinstance(SpikingPolicy(snn, timesteps=4), SpikingPolicy)


def test_visited_states_are_the_trajectories_the_policy_drives_not_copies_of_the_last_state():
    import gymnasium as gym

    from snnrl.agents.distillation import visited_states
    from snnrl.agents.zoo import load_teacher

    actor, _ = load_teacher("td3-invertedpendulum")
    policy = SpikingPolicy(convert_actor(actor, thresholds_from_activations(
        actor.hidden_activations(torch.randn(256, 4) * 0.1))), timesteps=4, crpi=CRPIConfig(alpha=0.5))
    states = visited_states(policy, "InvertedPendulum-v5", steps=20, envs=2, seed=7)
    assert torch.unique(states, dim=0).shape[0] == 20
    env = gym.make("InvertedPendulum-v5")                     # env 0's own trajectory, replayed alone
    obs, _ = env.reset(seed=7)
    state, start = None, True
    for row in range(0, 20, 2):
        np.testing.assert_allclose(states[row].numpy(), obs.astype(np.float32), atol=1e-5)
        action, state = policy.predict(obs.astype(np.float32)[None], state, np.array([start]))
        obs, *_ = env.step(action[0])
        start = False


def test_spiking_distillation_reduces_the_action_error_on_held_out_states():
    from snnrl.agents.distillation import _SpikingStudent, fit_actions

    actor = random_actor()
    train, test = torch.randn(3000, 3), torch.randn(500, 3)
    snn = convert_actor(actor, mse_thresholds(actor.hidden_activations(train), 2))
    student = _SpikingStudent(snn, 2)
    with torch.no_grad():
        labels, target = actor(train), actor(test)
        before = ((snn(test, 2) - target) ** 2).mean()
    fit_actions(student, train, labels, DistillationConfig(epochs=3, lr=1e-3, lr_schedule="constant"),
                torch.Generator().manual_seed(0), actor.action_low, actor.action_high)
    with torch.no_grad():
        after = ((student.spiking_actor()(test, 2) - target) ** 2).mean()
    assert after < 0.7 * before



def test_cosine_schedule_anneals_the_rate_of_a_fit():
    from snnrl.agents.distillation import fit_actions

    actor = random_actor()
    states = torch.randn(64, 3)
    with torch.no_grad():
        labels = actor(states) * 0.5

    def fitted(batch_size: int, schedule: str, epochs: int = 2) -> torch.nn.Module:
        student = copy.deepcopy(actor)
        fit_actions(student, states, labels, DistillationConfig(epochs=epochs, batch_size=batch_size, lr=1e-2,
                                                                lr_schedule=schedule),
                    torch.Generator().manual_seed(0), actor.action_low, actor.action_high)
        return student

    def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
        return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))

    # one mini-batch in all: its one step is at the full rate, as without a schedule
    assert same(fitted(64, "cosine", epochs=1), fitted(64, "constant", epochs=1))
    # several: the later steps are smaller, so the weights end elsewhere
    assert not same(fitted(16, "cosine"), fitted(16, "constant"))
    with pytest.raises(ValueError, match="lr_schedule"):
        DistillationConfig(lr_schedule="linear")

# -- score, recipes, files -------------------------------------------------------------------------------------
def test_fidelity_score_is_right_for_negative_rewards():
    # Reacher-like: ANN -3.62, zero action -40; an SNN at -3.89 keeps 99.3% of the margin, not "107% of the ANN"
    assert fidelity_score(-3.89, -3.62, -40.0) == pytest.approx((40 - 3.89) / (40 - 3.62))
    assert fidelity_score(-3.89, -3.62, -40.0) < 1 < -3.89 / -3.62
    assert fidelity_score(-40.0, -3.62, -40.0) == 0 and fidelity_score(-3.62, -3.62, -40.0) == 1
    assert fidelity_score(1.0, 5.0, 5.0) is None                           # no margin: undefined


def test_constant_policy_and_recipe_labels():
    actions, state = ConstantPolicy(2, 3).predict(np.zeros((4, 3)), "s")
    assert actions.shape == (4, 2) and not actions.any() and state == "s"
    assert Recipe("mse", "qcfs", True, 1.0).label == "mse+qcfs+bias+crpi1"
    with pytest.raises(ValueError, match="thresholds"):
        Recipe("p99")
    with pytest.raises(ValueError, match="alpha"):
        Recipe(alpha=2.0)


def test_tuning_rule_picks_the_closest_actions_among_returns_within_one_standard_error(monkeypatch):
    import snnrl.sweeps.fidelity as fidelity
    from snnrl.agents.evaluation import EpisodeResult

    # label: (episode returns, RMS action error); the best mean is 8, its standard error 1/sqrt(3) = 0.58
    episodes = {"max": ([5, 5, 5], 0.1), "max+crpi0.5": ([7.5, 7.5, 7.5], 0.2), "max+crpi1": ([8, 9, 7], 0.3),
                "mse": ([7.5, 7.5, 7.5], 0.2), "mse+spiking": ([6.9, 6.9, 6.9], 0.01)}
    played = []

    class Builder:
        env_id, actor = "none", random_actor()

        def policy(self, recipe, timesteps, metering=False):
            played.append(recipe.label)
            return recipe.label

    def fake_episodes(policy, env_id, *, episodes, seed, teacher, **_):
        assert seed == 100 and episodes == 3 and teacher is not None
        returns, rms = fake[policy]
        return [EpisodeResult(seed, r, 1, {}, action_error_rms=rms) for r in returns]

    fake = episodes
    monkeypatch.setattr(fidelity, "run_episodes", fake_episodes)
    candidates = [Recipe(), Recipe(alpha=0.5), Recipe(alpha=1.0), Recipe("mse"), Recipe("mse", "spiking")]
    best, table = fidelity.tune(Builder(), 4, candidates, seed=100, episodes=3)
    # within 8 - 0.58 = 7.42: crpi0.5, crpi1, mse; the closest actions: crpi0.5 and mse tie at 0.2, the earlier wins
    assert best == Recipe(alpha=0.5) and [r["picked"] for r in table] == [False, True, False, False, False]
    assert table[2]["tuning_return"] == 8 and table[2]["tuning_return_se"] == pytest.approx(3 ** -0.5)
    # mse+spiking (6.9, just outside one standard error) is not picked despite its closest actions
    assert table[4]["tuning_action_rms"] == 0.01
    # a shared cache plays each candidate once; with one episode the rule is the best return
    cache, played[:], lines = {}, [], []
    fidelity.tune(Builder(), 4, candidates[:2], seed=100, episodes=3, measured=cache)
    fidelity.tune(Builder(), 4, candidates, seed=100, episodes=3, measured=cache, progress=lines.append)
    assert sorted(played) == sorted(r.label for r in candidates)
    assert lines[0] == "T=4: candidate 3/5 max+crpi1: tuning return 8" and len(lines) == 3   # one per candidate played
    fake = {k: (v[0][:1], v[1]) for k, v in episodes.items()}
    monkeypatch.setattr(fidelity, "run_episodes", lambda policy, env_id, *, episodes, seed, teacher, **_: [
        EpisodeResult(seed, fake[policy][0][0], 1, {}, action_error_rms=fake[policy][1])])
    assert fidelity.tune(Builder(), 4, candidates, seed=100, episodes=1)[0] == Recipe(alpha=1.0)
    with pytest.raises(ValueError, match="overlap"):
        fidelity.FidelityConfig(seed=0, episodes=30, tuning_seed=20)
    with pytest.raises(ValueError, match=r"ablation rows \['bogus'\]"):
        fidelity.FidelityConfig(ablation=("plain", "bogus"))


def test_tuning_rule_never_picks_a_candidate_costing_as_much_as_the_ann(monkeypatch):
    import snnrl.sweeps.fidelity as fidelity
    from snnrl.agents.evaluation import EpisodeResult

    # label: (returns, RMS action error, energy per decision in pJ); the ANN spends 100 pJ a decision
    fake = {"mse": ([7, 7, 7], 0.2, 40.0), "mse+spiking": ([8, 8, 8], 0.1, 60.0),
            "mse+pop3": ([9, 9, 9], 0.01, 100.0)}

    class Builder:
        env_id, actor = "none", random_actor()

        def policy(self, recipe, timesteps, metering=True):
            return recipe.label

    monkeypatch.setattr(fidelity, "run_episodes", lambda policy, env_id, *, episodes, seed, teacher, **_: [
        EpisodeResult(seed, r, 10, {"energy_pj": 10 * fake[policy][2], "steps": 10},
                      action_error_rms=fake[policy][1]) for r in fake[policy][0]])
    candidates = [Recipe("mse"), Recipe("mse", "spiking"), Recipe("mse", copies=3)]
    best, table = fidelity.tune(Builder(), 8, candidates, seed=100, episodes=3, ann_energy_pj=100.0)
    assert best == Recipe("mse", "spiking") and [r["eligible"] for r in table] == [True, True, False]
    assert table[2]["tuning_energy_pj"] == 100.0
    assert fidelity.tune(Builder(), 8, candidates, seed=100, episodes=3)[0] == Recipe("mse", copies=3)
    assert fidelity.tune(Builder(), 8, candidates, seed=100, episodes=3, ann_energy_pj=1.0)[0] == Recipe(
        "mse", copies=3)                                   # none is cheaper: every candidate stays eligible


def test_policy_set_round_trip_gives_the_same_actions_and_bad_files_the_toolkits_error(tmp_path):
    actor = random_actor()
    obs = torch.randn(200, 3)
    policies = [SpikingPolicy(convert_actor(actor, mse_thresholds(actor.hidden_activations(obs), t)), timesteps=t,
                              crpi=CRPIConfig(alpha=0.5) if t == 8 else None, meta={"recipe": f"r{t}"})
                for t in (4, 8)]
    path = save_policy_set(tmp_path / "policy.pt", policies, {"teacher": "none", "env_id": "none"})
    loaded, meta = load_policy_set(path)
    assert list(loaded) == [4, 8] and meta["teacher"] == "none"
    x = obs[:5].numpy()
    for t, original in zip((4, 8), policies):
        a, s = original.predict(x)
        b, u = SpikingPolicy.load(path, timesteps=t).predict(x)
        assert np.array_equal(a, b) and all(np.array_equal(p, q) for p, q in zip(s, u, strict=True))
        assert loaded[t].crpi == original.crpi
        a2, _ = original.predict(x, s)                                      # and the next decision (CRPI carry)
        b2, _ = loaded[t].predict(x, u)
        assert np.array_equal(a2, b2)
    assert SpikingPolicy.load(path).timesteps == 4
    with pytest.raises(ArtifactError, match="T = 4, 8, not T=16"):
        SpikingPolicy.load(path, timesteps=16)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ArtifactError, match="corrupt, truncated"):
        SpikingPolicy.load(path)
    with pytest.raises(ValueError, match="one policy per T"):
        save_policy_set(tmp_path / "x.pt", [policies[0], policies[0]])


def test_convert_cli_writes_a_file_evaluate_reads(tmp_path, capsys, monkeypatch):
    import functools

    import snnrl.sweeps.fidelity as fidelity
    from snnrl.cli import main

    quick = DistillationConfig(rounds=1, rollout_steps=40, envs=2, epochs=1)
    monkeypatch.setattr(fidelity, "convert_tuned", functools.partial(fidelity.convert_tuned, distillation=quick))
    monkeypatch.setattr(fidelity, "RECIPE_CANDIDATES", fidelity.RECIPE_CANDIDATES[:2])   # the rule is tested above
    out = tmp_path / "ip.pt"
    assert main(["convert", "td3-invertedpendulum", "--timesteps", "2", "--tuning-episodes", "1",
                 "--calibration-steps", "300", "--out", str(out)]) == 0
    policy = SpikingPolicy.load(out, timesteps=2)
    _, meta = load_policy_set(out)
    assert meta["teacher"] == "td3-invertedpendulum" and meta["tuning"]["2"]["recipe"] == policy.meta["recipe"]
    assert meta["tuning_seeds"] == [100, 100] and meta["calibration_steps"] == 300
    capsys.readouterr()
    assert main(["convert", "td3-invertedpendulum", "--out", str(out)]) == 2
    assert f"--out {out} exists" in capsys.readouterr().err
    assert main(["convert", "td3-invertedpendulum", "--timesteps", "0", "--out", str(tmp_path / "y.pt")]) == 2
    assert "argument --timesteps: expected an integer >= 1, got '0'" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--episodes", "2", "--out", str(tmp_path / "ev")]) == 0
    printed = capsys.readouterr().out
    assert "ANN" in printed and "SNN T=2" in printed and "zero action" in printed
    assert (tmp_path / "ev" / "policy_results.json").is_file()


def test_fidelity_protocol_document(monkeypatch):
    import snnrl.sweeps.fidelity as fidelity
    from snnrl.agents.zoo import load_teacher

    monkeypatch.setattr(fidelity, "RECIPE_CANDIDATES", fidelity.RECIPE_CANDIDATES[:2])
    monkeypatch.setattr(fidelity, "CRPI_ALPHAS", (1.0,))
    monkeypatch.setattr(fidelity, "ABLATION", {"plain": Recipe(), "spiking": Recipe("mse", "spiking")})
    actor, entry = load_teacher("td3-invertedpendulum")
    config = fidelity.FidelityConfig(timesteps=(2,), episodes=2, tuning_episodes=1, calibration_steps=300,
                                     distillation=DistillationConfig(rounds=1, rollout_steps=40, envs=2, epochs=1))
    seen, checkpoints = [], []
    doc = fidelity.run_fidelity_protocol(actor, entry["env_id"], config, on_row=lambda t, name, row: seen.append(name),
                                         on_block=checkpoints.append)
    assert seen == ["plain", "spiking", "crpi", "recipe"]
    assert doc["ann"]["return_mean"] == 1000 and doc["reference"]["return_mean"] < 100      # zero action falls
    rows = doc["per_timesteps"][0]["rows"]
    assert rows["crpi"]["alpha"] == 1.0 and rows["recipe"]["recipe"] in {c.label for c in
                                                                          fidelity.RECIPE_CANDIDATES}
    for row in rows.values():
        expected = (row["return_mean"] - doc["reference"]["return_mean"]) / (1000 - doc["reference"]["return_mean"])
        assert row["fidelity"] == pytest.approx(expected) and len(row["returns"]) == 2
    assert [r["tuning_return"] for r in doc["per_timesteps"][0]["tuning"]["recipe"]] != []
    assert len(checkpoints) == 1 and checkpoints[0]["per_timesteps"] == doc["per_timesteps"]
    saved = json.loads(json.dumps(checkpoints[0]))                    # as read back from the .partial file

    def no_episodes(*args, **kwargs):
        raise AssertionError("a resumed T was measured again")

    with monkeypatch.context() as m:
        m.setattr(fidelity, "run_episodes", no_episodes)
        resumed = fidelity.run_fidelity_protocol(actor, entry["env_id"], config, resume=saved)
    assert resumed["per_timesteps"] == saved["per_timesteps"] and resumed["ann"] == doc["ann"]
    with monkeypatch.context() as m:                                  # more T: only the new one is measured
        measured = []
        m.setattr(fidelity, "tune", lambda builder, t, *a, **k: (measured.append(t), (Recipe(), []))[1])
        m.setattr(fidelity, "run_episodes", lambda *a, **k: [])
        m.setattr(fidelity, "episode_stats", lambda *a, **k: {"return_mean": 0.0})
        extended = fidelity.run_fidelity_protocol(actor, entry["env_id"], replace(config, timesteps=(2, 4)),
                                                  resume=saved)
    assert set(measured) == {4} and extended["per_timesteps"][0] == saved["per_timesteps"][0]
    assert [b["timesteps"] for b in extended["per_timesteps"]] == [2, 4]
    with pytest.raises(ValueError, match="another env or config"):
        fidelity.run_fidelity_protocol(actor, entry["env_id"], replace(config, episodes=3), resume=saved)
    seen.clear()
    fewer = fidelity.run_fidelity_protocol(actor, entry["env_id"], replace(config, ablation=("plain",)),
                                           on_row=lambda t, name, row: seen.append(name))
    assert seen == ["plain", "crpi", "recipe"] and set(fewer["per_timesteps"][0]["rows"]) == set(seen)


def test_protocol_script_resumes_a_killed_forced_run(monkeypatch, tmp_path, capsys):
    """``conversion_fidelity.py --protocol --force``: a checkpoint of the same flags is resumed (a killed forced run
    loses no finished T); one of other flags stops the run in one line without --force and is replaced with it."""
    import snnrl.sweeps.fidelity as fidelity
    from conftest import load_benchmark

    script = load_benchmark("conversion_fidelity")
    calls = []

    def protocol(actor, env_id, config, *, resume=None, **kwargs):
        calls.append(resume)
        raise KeyboardInterrupt                                      # stands in for the measured run

    monkeypatch.setattr(fidelity, "run_fidelity_protocol", protocol)
    flags = ["--protocol", "td3-invertedpendulum", "--timesteps", "2", "--out", str(tmp_path)]
    config = fidelity.FidelityConfig(timesteps=(2,))
    checkpoint = {"env_id": "InvertedPendulum-v5", "tuning_rule": fidelity.TUNING_RULE,
                  "recipe_candidates": fidelity.candidate_labels(),
                  "config": json.loads(json.dumps(asdict(config))), "per_timesteps": []}
    assert fidelity.resumable(checkpoint, "InvertedPendulum-v5", config)
    (tmp_path / "td3-invertedpendulum.json").write_text("{}")                 # a finished file: --force re-runs
    (tmp_path / "td3-invertedpendulum.json.partial").write_text(json.dumps(checkpoint))
    with pytest.raises(KeyboardInterrupt):
        script.main([*flags, "--force"])
    assert calls == [checkpoint]
    other = {**checkpoint, "config": {**checkpoint["config"], "episodes": 3}}
    (tmp_path / "td3-invertedpendulum.json.partial").write_text(json.dumps(other))
    (tmp_path / "td3-invertedpendulum.json").unlink()
    assert script.main(flags) == 2 and calls == [checkpoint]                # refused before any work
    assert "another config" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        script.main([*flags, "--force"])
    assert calls == [checkpoint, None]


def test_distillation_budget_labels_keep_the_fit_their_committed_rows_measured():
    """A moved default must not change what a budget label runs: every committed row's settings are its label's."""
    from conftest import load_benchmark

    budget = load_benchmark("distillation_budget")
    rows = json.loads(budget.OUT.read_text())["raw"]
    assert rows
    for row in rows:
        assert asdict(budget.CANDIDATES[row["candidate"]]) == row["config"], row["candidate"]
