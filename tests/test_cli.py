"""The command line: every option refuses bad values in one line before any work; output folders; TensorBoard.

The bad-value table is checked against the parser itself: an option added to ``snnrl`` without a row in
:data:`BAD_VALUES` fails :func:`test_every_option_has_bad_values`, and every row runs in
:func:`test_bad_value_is_one_line_naming_the_flag` with the commands' work functions replaced by a failure, so a
value that is not caught before the work starts fails the test too. ``store_true`` flags get their one bad value
(an explicit argument, ``--flag=x``) from the parser.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import stat

import numpy as np
import pytest
import torch

from snnrl.cli import build_parser, main

TEACHER = "td3-invertedpendulum"

#: The valid start of each command line; a bad value is appended to it (``{tmp}``: the test's folder).
BASES = {
    "snnrl": ["{bad}", "demo"],
    "demo": ["demo"],
    "train-teacher": ["train-teacher", TEACHER],
    "export-teacher": ["export-teacher", TEACHER],
    "evaluate": ["evaluate", TEACHER],
    "convert": ["convert", TEACHER, "--out", "{tmp}/policy.pt"],
    "energy-report": ["energy-report", "{file}"],
    "continual": ["continual", "--benchmark", "split-digits"],
}

#: Bad values of every option that takes one, by (command, option or positional name). ``{file}``: an existing
#: file, ``{missing}``: a path that does not exist, ``{tmp}``: an existing folder.
BAD_VALUES: dict[tuple[str, str], list[str]] = {
    ("snnrl", "--threads"): ["0", "x"],
    ("train-teacher", "name"): ["td3-nope"],
    ("train-teacher", "--steps"): ["0", "-5", "x"],
    ("train-teacher", "--seed"): ["-1", "x"],
    ("train-teacher", "--workdir"): ["{file}", "{file}/sub"],
    ("train-teacher", "--checkpoint-every"): ["0", "x"],
    ("export-teacher", "name"): ["nope"],
    ("export-teacher", "--workdir"): ["{missing}", "{file}", "{tmp}"],
    ("evaluate", "teacher"): ["nope", "{missing}.zip"],
    ("evaluate", "--env"): ["Hoper-v5", "x"],
    ("evaluate", "--vecnormalize"): ["{missing}"],
    ("evaluate", "--timesteps"): ["0", "x", "2.5"],
    ("evaluate", "--alphas"): ["1.5", "-0.1", "nan"],
    ("evaluate", "--episodes"): ["0", "x"],
    ("evaluate", "--seed"): ["-1"],
    ("evaluate", "--threshold"): ["median"],
    ("evaluate", "--calibration-steps"): ["0"],
    ("evaluate", "--threshold-scale"): ["0", "inf", "x"],
    ("evaluate", "--out"): ["{file}", "{file}/sub"],
    ("evaluate", "--tensorboard"): ["{file}"],
    ("evaluate", "--backend"): ["spark"],
    ("evaluate", "--workers"): ["0"],
    ("evaluate", "--address"): ["ray://head:10001"],
    ("convert", "model"): ["nope", "{missing}.zip"],
    ("convert", "--env"): ["Nope-v0"],
    ("convert", "--vecnormalize"): ["{missing}"],
    ("convert", "--timesteps"): ["0"],
    ("convert", "--tuning-seed"): ["-1"],
    ("convert", "--tuning-episodes"): ["0"],
    ("convert", "--calibration-steps"): ["0", "many"],
    ("convert", "--out"): ["{tmp}", "{missing}/policy.pt", "{file}"],
    ("energy-report", "results"): ["{missing}"],
    ("energy-report", "--out"): ["{file}"],
    ("continual", "--benchmark"): ["split-foo"],
    ("continual", "--strategy"): ["ewc"],
    ("continual", "--buffer-size"): ["0"],
    ("continual", "--backbone"): ["vgg"],
    ("continual", "--neuron"): ["izhikevich"],
    ("continual", "--lif-beta"): ["1.5", "-0.1"],
    ("continual", "--buffer-update"): ["fifo"],
    ("continual", "--timesteps"): ["0"],
    ("continual", "--epochs"): ["0"],
    ("continual", "--batch-size"): ["0"],
    ("continual", "--lr"): ["0", "-1"],
    ("continual", "--optimizer"): ["adam"],
    ("continual", "--validation"): ["0", "1", "1.5"],
    ("continual", "--experiences"): ["0", "3"],
    ("continual", "--seeds"): ["0"],
    ("continual", "--first-seed"): ["-1"],
    ("continual", "--train-per-class"): ["0"],
    ("continual", "--test-per-class"): ["0"],
    ("continual", "--ce-mode"): ["sum"],
    ("continual", "--staer-beta"): ["-1"],
    ("continual", "--staer-alpha1"): ["-1"],
    ("continual", "--staer-alpha2"): ["nan"],
    ("continual", "--staer-logit-alpha"): ["-0.5"],
    ("continual", "--derpp-alpha"): ["-1"],
    ("continual", "--derpp-beta"): ["-1"],
    ("continual", "--tag"): ["a/b"],
    ("continual", "--data-root"): ["{missing}"],
    ("continual", "--out"): ["{file}"],
    ("continual", "--tensorboard"): ["{file}"],
    ("continual", "--backend"): ["spark"],
    ("continual", "--workers"): ["0"],
    ("continual", "--address"): ["auto"],
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"snnrl": parser, **subs.choices}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _name(action: argparse.Action) -> str:
    return action.option_strings[-1] if action.option_strings else (action.metavar or action.dest)


def _cases() -> list[tuple[str, str, list[str]]]:
    """(command, option, the arguments that give it a bad value) for every option of every command."""
    cases = []
    for command, parser in _commands().items():
        for action in _options(parser):
            name = _name(action)
            if isinstance(action, argparse._StoreTrueAction):
                cases.append((command, name, [f"{name}=x"]))
                continue
            for value in BAD_VALUES.get((command, name), []):
                cases.append((command, name, [name, value] if action.option_strings else [value]))
    return cases


def test_every_option_has_bad_values():
    """A row per option that takes a value; no stale rows."""
    takes_value = {(c, _name(a)) for c, p in _commands().items() for a in _options(p)
                   if not isinstance(a, argparse._StoreTrueAction)}
    assert takes_value - BAD_VALUES.keys() == set(), "options without bad values in BAD_VALUES"
    assert BAD_VALUES.keys() - takes_value == set(), "rows of options the parser does not have"


def test_every_option_has_help_text():
    missing = [f"{c} {_name(a)}" for c, p in _commands().items() for a in _options(p) if not a.help]
    assert missing == []


@pytest.fixture
def no_work(monkeypatch):
    """Every command's work function fails the test if reached."""
    import snnrl.agents.teachers
    import snnrl.agents.zoo
    import snnrl.demo
    import snnrl.reports.conversion  # noqa: F401 - binds write_energy_report at import: import it unpatched
    import snnrl.reports.energy
    import snnrl.sweeps.continual
    import snnrl.sweeps.evaluator
    import snnrl.sweeps.fidelity

    def stand_in(original):
        @functools.wraps(original)       # keeps the signature (the parser reads a default from one)
        def work(*args, **kwargs):
            raise AssertionError("work started before the bad value was refused")
        return work

    for module, name in ((snnrl.sweeps.evaluator, "run_sweeps"), (snnrl.agents.teachers, "train_teacher"),
                         (snnrl.agents.zoo, "export_teacher"), (snnrl.sweeps.fidelity, "convert_tuned"),
                         (snnrl.sweeps.continual, "run_continual_grid"), (snnrl.demo, "main"),
                         (snnrl.reports.energy, "write_energy_report")):
        monkeypatch.setattr(module, name, stand_in(getattr(module, name)))


def _fill(arguments: list[str], tmp_path) -> list[str]:
    file = tmp_path / "a-file.txt"
    file.write_text("not a folder\n")
    values = {"{file}": str(file), "{missing}": str(tmp_path / "missing"), "{tmp}": str(tmp_path)}
    out = []
    for argument in arguments:
        for key, value in values.items():
            argument = argument.replace(key, value)
        out.append(argument)
    return out


def _run(command: str, bad: list[str], tmp_path) -> list[str]:
    """The base line with the bad option appended, or with its positional (the one after the command) replaced."""
    base = BASES[command]
    if command == "snnrl":
        line = [*bad, *base[1:]]
    elif bad[0].startswith("-"):
        line = [*base, *bad]
    else:
        line = [base[0], *bad, *base[2:]]
    return _fill(line, tmp_path)


@pytest.mark.parametrize("command, option, bad", _cases(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_bad_value_is_one_line_naming_the_flag(command, option, bad, tmp_path, capsys, no_work, monkeypatch,
                                               record_property):
    record_property("cli_option", f"{command} {option}")   # counted by benchmarks/reliability.py
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNNRL_HOME", str(tmp_path / "home"))
    arguments = _run(command, bad, tmp_path)
    code = main(arguments)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (arguments, captured.err)
    assert len(lines) == 1, lines
    value = _fill(bad, tmp_path)[-1]
    assert option in lines[0] and "Traceback" not in captured.err, lines[0]
    shown = value.split("=", 1)[1] if value.startswith(f"{option}=") else value
    assert shown in lines[0], (shown, lines[0])
    assert not (tmp_path / "runs").exists()       # no output folder made either


def test_verbose_adds_the_traceback(capsys, no_work):
    assert main(["-v", "evaluate", TEACHER, "--address", "auto"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("snnrl evaluate: error: --address")


QUICK = ["--timesteps", "2", "--alphas", "0.5", "--episodes", "2", "--calibration-steps", "200", "--no-progress"]


def test_out_that_is_a_file_or_unwritable_fails_before_the_first_episode(tmp_path, capsys, no_work):
    file = tmp_path / "results"
    file.write_text("x")
    assert main(["evaluate", TEACHER, *QUICK, "--out", str(file)]) == 2
    assert "argument --out" in capsys.readouterr().err
    if os.geteuid() != 0:   # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        assert main(["evaluate", TEACHER, *QUICK, "--out", str(locked / "out")]) == 2
        assert "cannot be written" in capsys.readouterr().err


def test_run_folder_refuses_another_command_resumes_the_same_and_is_locked(tmp_path, capsys, no_work):
    from snnrl.reports.run_folder import LOCK_FILE, RunFolder, RunFolderError

    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not an snnrl output folder"):
        RunFolder.open(stray, record={"command": "x"}, overwrite=True)
    assert (stray / "notes.txt").read_text() == "mine"          # --overwrite never wipes a folder snnrl did not write
    out = tmp_path / "out"
    with RunFolder.open(out, record={"command": "a"}) as folder:
        assert not folder.resumed
        (out / "result.json").write_text("{}")
        assert main(["evaluate", TEACHER, *QUICK, "--out", str(out)]) == 2    # locked by this run
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(out / LOCK_FILE) in err and f"pid {os.getpid()}" in err
    with RunFolder.open(out, record={"command": "a"}) as folder:                # released: the same command resumes
        assert folder.resumed and (out / "result.json").exists()
    with pytest.raises(RunFolderError, match="give --overwrite"):
        RunFolder.open(out, record={"command": "b"})
    with RunFolder.open(out, record={"command": "b"}, overwrite=True) as folder:
        assert not folder.resumed and not (out / "result.json").exists()     # no stale files beside new ones


def test_unique_names_one_folder_per_input():
    from snnrl.reports.run_folder import unique_names

    assert unique_names(["m", "m", "m-2", "n"]) == ["m", "m-2", "m-2-2", "n"]
    assert len(set(unique_names(["m"] * 5))) == 5


def _sb3_model(tmp_path, *, vecnormalize: bool, name: str = "model"):
    """A small TD3 on InvertedPendulum with a ReLU actor (a few learning steps), saved as ``name.zip``; with
    ``vecnormalize`` trained under VecNormalize, whose statistics go to ``name-vecnormalize.pkl``."""
    import gymnasium as gym
    from stable_baselines3 import TD3
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    env = DummyVecEnv([lambda: gym.make("InvertedPendulum-v5")])
    if vecnormalize:
        env = VecNormalize(env, norm_reward=False)
    model = TD3("MlpPolicy", env, learning_starts=100, policy_kwargs={"net_arch": [16, 16],
                                                                       "activation_fn": torch.nn.ReLU},
                seed=0, device="cpu")
    model.learn(120)
    tmp_path.mkdir(parents=True, exist_ok=True)
    model.save(tmp_path / f"{name}.zip")
    if vecnormalize:
        env.save(str(tmp_path / f"{name}-vecnormalize.pkl"))
    return model, env


def test_vecnormalize_is_folded_and_gives_the_anns_actions(tmp_path):
    from snnrl.agents.conversion import convert_actor
    from snnrl.agents.zoo import TeacherLoadError, load_sb3_teacher

    model, venv = _sb3_model(tmp_path, vecnormalize=True)
    zip_path, stats = tmp_path / "model.zip", tmp_path / "model-vecnormalize.pkl"
    actor = load_sb3_teacher(zip_path, env_id="InvertedPendulum-v5", vecnormalize=stats)
    obs = np.random.default_rng(0).normal(0, 0.5, size=(64, 4)).astype(np.float32)
    expected, _ = model.predict(venv.normalize_obs(obs), deterministic=True)     # what SB3's model does
    with torch.no_grad():
        ann = actor(torch.as_tensor(obs)).numpy()
        np.testing.assert_allclose(ann, expected, atol=1e-5)
        # The fold: the converted first layer on raw observations is the ANN's on normalised ones.
        snn = convert_actor(actor, [torch.ones(16), torch.ones(16)])
        x = torch.clamp(torch.as_tensor(obs), snn.obs_low, snn.obs_high)
        np.testing.assert_allclose(snn.input_layer(x), actor.hidden[0](actor.normalise(torch.as_tensor(obs))),
                                   atol=1e-5)
        acts = [a.clamp(min=0) for a in actor.hidden_activations(torch.as_tensor(obs))]
        fine = convert_actor(actor, [a.max(0).values.clamp(min=1e-3) for a in acts])(torch.as_tensor(obs), 512)
        np.testing.assert_allclose(fine.numpy(), expected, atol=0.05)                # and its actions, at large T
    with pytest.raises(TeacherLoadError, match="trained under VecNormalize .model-vecnormalize.pkl lies beside it"):
        load_sb3_teacher(zip_path, env_id="InvertedPendulum-v5")
    with pytest.raises(TeacherLoadError, match="does not fit Hopper-v5: observation space"):
        load_sb3_teacher(zip_path, env_id="Hopper-v5", vecnormalize=stats)
    with pytest.raises(TeacherLoadError, match="not continuous"):
        load_sb3_teacher(zip_path, env_id="CartPole-v1")
    with pytest.raises(TeacherLoadError, match="not a readable VecNormalize file"):
        load_sb3_teacher(zip_path, env_id="InvertedPendulum-v5", vecnormalize=zip_path)


def test_on_policy_zip_trained_under_vecnormalize_is_told_without_the_file(tmp_path):
    """PPO / A2C record unnormalised observations only under VecNormalize: refused even with no file beside."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from snnrl.agents.zoo import TeacherLoadError, load_sb3_teacher

    for normalised in (False, True):
        env = DummyVecEnv([lambda: gym.make("InvertedPendulum-v5")])
        env = VecNormalize(env) if normalised else env
        model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu",
                    policy_kwargs={"net_arch": [8], "activation_fn": torch.nn.ReLU})
        model.learn(32)
        model.save(tmp_path / f"ppo-{normalised}.zip")
        if normalised:
            with pytest.raises(TeacherLoadError, match="recorded unnormalised observations"):
                load_sb3_teacher(tmp_path / f"ppo-{normalised}.zip", env_id="InvertedPendulum-v5")
        else:
            assert load_sb3_teacher(tmp_path / f"ppo-{normalised}.zip", env_id="InvertedPendulum-v5").obs_mean is None


def test_cli_zip_checks_spaces_and_vecnormalize_before_any_work(tmp_path, capsys, no_work):
    _sb3_model(tmp_path, vecnormalize=True)
    zip_path = str(tmp_path / "model.zip")
    for arguments, expected in (
            (["--env", "InvertedPendulum-v5"], "trained under VecNormalize"),
            (["--env", "InvertedDoublePendulum-v5"], "does not fit InvertedDoublePendulum-v5"),
            ([], "give --env ENV_ID")):
        assert main(["evaluate", zip_path, *arguments, *QUICK, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "o").exists()


def _tags(folder) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events.parent))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    return tags


def test_evaluate_two_zips_of_one_name_one_folder_each_and_tensorboard(tmp_path, capsys):
    """Two inputs named ``model.zip`` get a folder each; per-job return and energy land in TensorBoard."""
    _sb3_model(tmp_path / "a", vecnormalize=False)
    _sb3_model(tmp_path / "b", vecnormalize=False)
    out, board = tmp_path / "out", tmp_path / "tb"
    assert main(["evaluate", str(tmp_path / "a" / "model.zip"), str(tmp_path / "b" / "model.zip"), "--env",
                 "InvertedPendulum-v5", *QUICK, "--out", str(out), "--tensorboard", str(board)]) == 0
    first, second = (json.loads((out / name / "results.json").read_text()) for name in ("model", "model-2"))
    assert first["teacher"] == "model" and second["teacher"] == "model-2"
    tags = _tags(board)
    for label in ("ANN", "SNN T=2", "SNN T=2 CRPI a=0.5"):
        assert f"return/{label}" in tags and f"energy_per_decision_pj/{label}" in tags, tags
    assert {p.name for p in board.iterdir()} == {"model", "model-2"}


def test_continual_tensorboard_logs_avalanche_metrics(tmp_path, capsys):
    board = tmp_path / "tb"
    assert main(["continual", "--benchmark", "split-digits", "--strategy", "er", "--buffer-size", "20",
                 "--experiences", "2", "--train-per-class", "5", "--test-per-class", "3", "--out",
                 str(tmp_path / "out"), "--tensorboard", str(board), "--no-progress"]) == 0
    tags = _tags(board / "er-b20-s0")
    assert any(t.startswith("Top1_Acc_Stream/eval_phase/test_stream") for t in tags), tags
