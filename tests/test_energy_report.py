"""Energy reports: records from the env wrapper -> per-policy summary, JSON/CSV/PNG files, the CLI."""

import json

import gymnasium as gym
import numpy as np
import pytest

from snnrl.cli import main as cli_main
from snnrl.hardware.digital import DIGITAL_45NM_FP32
from snnrl.hardware.episode import EpisodeEnergyRecorder
from snnrl.reports.energy import (episode_row, load_energy_episodes, summarise_energy, write_energy_records,
                                   write_energy_report)
from snnrl.io import ArtifactError
from snnrl.opcount import OpsSummary



def _record(decisions: list[dict[str, list[int]]]) -> dict:
    recorder = EpisodeEnergyRecorder(DIGITAL_45NM_FP32)
    for ops in decisions:
        recorder.add_decision(ops)
    return recorder.record()


def test_summary_equals_hand_counts(tmp_path):
    # ANN: 2 decisions of 100 MACs; SNN: decisions of (8 MACs, 50 ACs, 10 updates, 4 spikes) + (0, 20, 5, 2).
    ann = _record([{"fc": [100, 0, 0, 0]}] * 2)
    snn = _record([{"fc1": [8, 50, 10, 4], "neurons.0": [0, 0, 10, 4]},
                   {"fc1": [8, 50, 10, 4], "neurons.0": [0, 0, 10, 2]},
                   {"fc1": [8, 50, 10, 4], "neurons.0": [0, 0, 10, 0]}])
    path = write_energy_records(tmp_path / "records.json", [("ANN", ann), ("SNN T=4", snn), ("SNN T=4", snn)],
                                title="hand")
    rows, context = load_energy_episodes(path)
    assert context["title"] == "hand" and [r["policy"] for r in rows] == ["ANN", "SNN T=4", "SNN T=4"]
    summary = {s["policy"]: s for s in summarise_energy(rows)}
    e_mac, e_ac = DIGITAL_45NM_FP32.energy_pj(OpsSummary(macs=1)), DIGITAL_45NM_FP32.energy_pj(OpsSummary(accumulates=1))
    e_upd = DIGITAL_45NM_FP32.energy_pj(OpsSummary(neuron_updates=1))
    assert summary["ANN"]["energy_per_decision_pj"] == pytest.approx(100 * e_mac)
    snn_per_decision = 8 * e_mac + 50 * e_ac + 20 * e_upd
    assert summary["SNN T=4"]["energy_per_decision_pj"] == pytest.approx(snn_per_decision)
    assert summary["SNN T=4"]["energy_ratio_to_ann"] == pytest.approx(snn_per_decision / (100 * e_mac))
    assert summary["SNN T=4"]["episodes"] == 2 and summary["SNN T=4"]["steps"] == 6
    # spikes per layer count only layers with neuron updates; (4 + 2 + 0) / 3 per decision on neurons.0
    assert summary["SNN T=4"]["spikes_per_layer_per_decision"]["neurons.0"] == pytest.approx(2.0)
    assert summary["SNN T=4"]["macs_per_decision"] == pytest.approx(8)


def test_report_files_from_closed_loop_records(tmp_path, check_png):
    from snnrl.agents.conversion import ConversionConfig, calibrate_thresholds, convert_actor
    from snnrl.agents.crpi import CRPIConfig
    from snnrl.agents.policy import AnnPolicy, SpikingPolicy
    from snnrl.agents.zoo import load_teacher
    from snnrl.envs.closed_loop import ClosedLoop

    actor, entry = load_teacher("td3-invertedpendulum")
    snn = convert_actor(actor, calibrate_thresholds(actor, config=ConversionConfig(calibration_steps=300, seed=0)))
    policies = {"ANN": AnnPolicy(actor), "SNN T=4": SpikingPolicy(snn, timesteps=4),
                "SNN T=4 CRPI a=1": SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=1.0))}
    collected = []
    for label, policy in policies.items():
        env = ClosedLoop(gym.make(entry["env_id"], max_episode_steps=15), policy)
        env.reset(seed=3)
        while True:
            *_, terminated, truncated, info = env.step(None)
            if terminated or truncated:
                collected.append((label, info["energy"]))
                break
    records = write_energy_records(tmp_path / "records.json", collected, title="pendulum")
    rows, context = load_energy_episodes(records)
    paths = write_energy_report(tmp_path / "report", rows, title=context["title"])
    for key in ("energy_trace_plot", "spikes_plot", "energy_bars_plot"):
        check_png(paths[key])
    report = json.loads(paths["energy_json"].read_text())
    by_policy = {s["policy"]: s for s in report["summary"]}
    assert by_policy["ANN"]["spikes_per_decision"] == 0
    assert by_policy["SNN T=4"]["spikes_per_decision"] > 0
    assert set(by_policy["SNN T=4"]["spikes_per_layer_per_decision"]) == {"neurons.0", "neurons.1"}
    assert by_policy["SNN T=4"]["energy_per_decision_pj"] < by_policy["ANN"]["energy_per_decision_pj"]
    lines = paths["energy_csv"].read_text().splitlines()
    assert lines[0].startswith("policy,seed,steps,energy_pj") and len(lines) == 1 + 3


def test_cli_redraws_a_sweep_results_file(tmp_path, capsys):
    from snnrl.agents.conversion import ConversionConfig
    from snnrl.reports.conversion import write_reports
    from snnrl.sweeps.evaluator import run_sweep
    from snnrl.sweeps.jobs import EvalJob, SweepConfig
    from snnrl.agents.zoo import load_teacher

    actor, entry = load_teacher("td3-invertedpendulum")
    config = SweepConfig(timesteps=(4,), alphas=(1.0,), episodes=1,
                         conversion=ConversionConfig(calibration_steps=200, seed=0))
    jobs = [EvalJob("ann"), EvalJob("snn", 4), EvalJob("snn+crpi", 4, 1.0)]
    results, calibration = run_sweep(actor, entry["env_id"], config, jobs=jobs, progress=False)
    # episodes of InvertedPendulum last 1000 steps; the sweep's own report already holds the energy files
    paths = write_reports(tmp_path / "sweep", results, teacher="ip", env_id=entry["env_id"], config=config,
                          calibration=calibration)
    assert paths["energy_bars_plot"].exists()
    doc = json.loads(paths["json"].read_text())
    assert set(doc["energy_traces"]) == {"ANN", "SNN T=4", "SNN T=4 CRPI a=1"}
    assert len(doc["energy_traces"]["SNN T=4"]) == results[1].episodes[0].length
    assert cli_main(["energy-report", str(tmp_path / "sweep"), "--out", str(tmp_path / "again")]) == 0
    out = capsys.readouterr().out
    assert "SNN T=4 CRPI a=1" in out and "vs ANN" in out
    again = json.loads((tmp_path / "again" / "energy_report.json").read_text())
    first = json.loads(paths["energy_json"].read_text())
    assert again["summary"] == first["summary"]


def test_bad_inputs_get_clear_errors(tmp_path, capsys):
    with pytest.raises(ArtifactError, match="no such file"):
        load_energy_episodes(tmp_path / "missing.json")
    good = write_energy_records(tmp_path / "good.json", [("ANN", _record([{"fc": [1, 0, 0, 0]}]))])
    data = good.read_bytes()
    (tmp_path / "cut.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated or corrupt"):
        load_energy_episodes(tmp_path / "cut.json")
    (tmp_path / "other.json").write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(ArtifactError, match="holds no energy records"):
        load_energy_episodes(tmp_path / "other.json")
    doc = json.loads(data)
    doc["schema_version"] = 99
    (tmp_path / "v99.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="schema version 99"):
        load_energy_episodes(tmp_path / "v99.json")
    del doc["episodes"][0]["record"]["synaptic_ops"]
    doc["schema_version"] = 1
    (tmp_path / "broken.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="malformed"):
        load_energy_episodes(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="not an energy record"):
        episode_row("ANN", {"steps": 3})
    assert cli_main(["energy-report", str(tmp_path / "cut.json")]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    assert np.isfinite(load_energy_episodes(good)[0][0]["energy_pj"])


def test_cli_threads_option(tmp_path, capsys):
    import torch

    good = write_energy_records(tmp_path / "good.json", [("ANN", _record([{"fc": [1, 0, 0, 0]}]))])
    try:
        assert cli_main(["--threads", "2", "energy-report", str(good), "--out", str(tmp_path / "r")]) == 0
        assert torch.get_num_threads() == 2
        assert cli_main(["energy-report", str(good), "--out", str(tmp_path / "r")]) == 0
        assert torch.get_num_threads() == 1  # the default: the same numbers on any machine
        assert cli_main(["--threads", "0", "energy-report", str(good)]) == 2
        assert "argument --threads: expected an integer >= 1, got '0'" in capsys.readouterr().err
    finally:
        torch.set_num_threads(1)
