"""Conversion sweeps and their reports, on the committed InvertedPendulum teacher (short episodes)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from snnrl.agents.conversion import ConversionConfig
from snnrl.agents.evaluation import lag1_autocorrelation
from snnrl.reports.conversion import format_summary, write_reports
from snnrl.sweeps.evaluator import run_sweep
from snnrl.sweeps.jobs import EvalJob, SweepConfig
from snnrl.sweeps.statistics import summarise
from snnrl.agents.zoo import load_teacher


def test_lag1_autocorrelation_values():
    assert lag1_autocorrelation(np.array([1.0, -1.0] * 50)) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(2000, 2)), axis=0)
    assert lag1_autocorrelation(walk) > 0.95
    assert abs(lag1_autocorrelation(rng.normal(size=(5000, 3)))) < 0.05
    assert lag1_autocorrelation(np.ones((10, 1))) is None


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    actor, entry = load_teacher("td3-invertedpendulum")
    config = SweepConfig(timesteps=(4, 8), alphas=(0.5, 1.0), episodes=2,
                         conversion=ConversionConfig(calibration_steps=500))
    jobs = [EvalJob("ann"), EvalJob("zero"), EvalJob("snn", 4), EvalJob("snn+crpi", 4, 0.5), EvalJob("snn+crpi", 4, 1.0),
            EvalJob("snn", 8)]
    results, calibration = run_sweep(actor, entry["env_id"], config, jobs=jobs, progress=False)
    out = tmp_path_factory.mktemp("sweep")
    paths = write_reports(out, results, teacher="td3-invertedpendulum", env_id=entry["env_id"], config=config,
                          calibration=calibration)
    return results, paths


def test_sweep_summary(sweep):
    results, _ = sweep
    summary = summarise(results)
    assert [s["timesteps"] for s in summary] == [4, 8]
    t4 = summary[0]
    crpi = {r.job.alpha: r.returns.mean() for r in results if r.job.kind == "snn+crpi"}
    assert t4["crpi_best_return"] == max(crpi.values()) and t4["crpi_alpha1_return"] == crpi[1.0]
    assert summary[1]["crpi_best_return"] is None
    assert t4["ann_return"] == pytest.approx(1000.0)
    assert t4["energy_snn_pj"] < t4["energy_ann_pj"]
    zero = next(r for r in results if r.job.kind == "zero").returns.mean()
    assert 0 < zero < 100 and t4["zero_return"] == zero                # the pendulum falls at once without torque
    assert t4["fidelity_snn"] == pytest.approx((t4["snn_return"] - zero) / (t4["ann_return"] - zero))
    table = format_summary(summary)
    assert "SNN+CRPI oracle" in table and "fid. SNN" in table


def test_sweep_reports_are_written(sweep, check_png):
    results, paths = sweep
    doc = json.loads(paths["json"].read_text())
    assert doc["schema_version"] == 1 and doc["teacher"] == "td3-invertedpendulum"
    assert len(doc["episodes"]) == 2 * len(results) and doc["config"]["episodes"] == 2
    check_png(paths["plot"])
    header = paths["energy_csv"].read_text().splitlines()[0]
    assert "energy_per_decision_pj" in header and header.startswith("policy,seed,steps")
    assert len(paths["csv"].read_text().splitlines()) == len(results) + 1


def test_bad_sweep_settings():
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1"):
        SweepConfig(timesteps=(0,))
    with pytest.raises(ValueError, match="alpha"):
        SweepConfig(alphas=(2.0,))


def test_cli_evaluate_rejects_zip_without_env(tmp_path):
    fake = tmp_path / "model.zip"
    fake.write_bytes(b"PK")
    result = subprocess.run([sys.executable, "-m", "snnrl.cli", "evaluate", str(fake)], capture_output=True, text=True)
    assert result.returncode != 0 and "--env" in result.stderr


def test_sweep_runs_the_exact_mode_job():
    import gymnasium as gym

    env_id = "snnrl-test/InvertedPendulumShort-v5"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point="gymnasium.envs.mujoco.inverted_pendulum_v5:InvertedPendulumEnv",
                     max_episode_steps=3)
    actor, _ = load_teacher("td3-invertedpendulum")
    config = SweepConfig(timesteps=(4,), alphas=(1.0,), episodes=2, conversion=ConversionConfig(calibration_steps=50),
                         exact=True)
    assert config.jobs()[-1] == EvalJob("exact")
    results, _ = run_sweep(actor, env_id, config, jobs=[EvalJob("ann"), EvalJob("exact")], progress=False)
    ann, exact = results
    assert exact.job.label == "exact SNN" and [e.length for e in exact.episodes] == [3, 3]
    assert list(exact.returns) == list(ann.returns)
    assert max(float(abs(e.action_errors).max()) for e in exact.episodes) < 1e-5  # vs the BLAS-order ANN
    assert exact.energy_per_decision_pj > 100 * ann.energy_per_decision_pj
