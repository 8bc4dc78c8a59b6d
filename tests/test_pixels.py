"""Pixel observations: the rendered-frame wrapper and its no-GL error."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from snnrl.envs.pixels import (PixelConfig, PixelObservation, RenderingError, camera_kwargs, make_pixel_env,
                               scene_flags)

needs_gl = pytest.mark.skipif(not glob.glob("/usr/lib/*/libOSMesa.so*") and "MUJOCO_GL" not in os.environ,
                              reason="no offscreen OpenGL (install libosmesa6: `make data`)")


@needs_gl
def test_a_closed_env_collected_later_leaves_the_next_envs_frames_intact():
    import gc

    ref = make_pixel_env("Reacher-v5")
    frame, _ = ref.reset(seed=0)
    ref.close()
    del ref
    gc.collect()
    old = make_pixel_env("InvertedPendulum-v5")
    old.reset(seed=0)
    old.close()
    new = make_pixel_env("Reacher-v5")
    del old                           # collected after the next env exists (as `env = make(...)` in a loop does)
    gc.collect()
    obs, _ = new.reset(seed=0)
    assert obs.max() > 0 and np.array_equal(obs, frame)     # not black: its framebuffer was not deleted
    new.close()


@needs_gl
def test_pixel_env_stacks_rendered_frames_repeats_actions_and_passes_check_env():
    from gymnasium.utils.env_checker import check_env

    env = make_pixel_env("InvertedPendulum-v5")
    obs, info = env.reset(seed=0)
    assert obs.shape == (9, 84, 84) and obs.dtype == np.uint8 and env.observation_space.contains(obs)
    assert info["state"].shape == (4,)
    assert np.array_equal(obs[:3], obs[6:])                   # a fresh stack repeats the first frame
    _, reward, terminated, _, info = env.step(np.array([3.0], np.float32))
    assert not terminated and reward == pytest.approx(2.0)    # two inner steps, one reward of 1 each
    assert env.get_wrapper_attr("_elapsed_steps") == 2
    later, *_ = env.step(np.array([3.0], np.float32))
    assert not np.array_equal(later[6:], later[3:6])          # the newest frame shows the cart moving
    again, _ = make_pixel_env("InvertedPendulum-v5").reset(seed=0)
    assert np.array_equal(again, obs)                         # rendering is deterministic
    check_env(make_pixel_env("InvertedPendulum-v5"), skip_render_check=True)
    import gymnasium as gym

    import snnrl.envs  # noqa: F401  (registers the pixel ids)

    assert gym.spec("snnrl/InvertedPendulumPixels-v5").max_episode_steps == 500            # 1000 steps, repeat 2
    assert gym.spec("snnrl/InvertedPendulumPixelsRepeat1-v5").max_episode_steps == 1000


@needs_gl
def test_reacher_is_seen_from_above_so_its_target_shows():
    def target_pixels(**kwargs) -> int:
        frame = make_pixel_env("Reacher-v5", PixelConfig(action_repeat=1), **kwargs).reset(seed=3)[0][-3:].astype(int)
        return int(((frame[0] > frame[1] + 60) & (frame[0] > frame[2] + 60)).sum())    # the red target sphere

    assert target_pixels() >= 4                                             # snnrl.envs.pixels.CAMERAS
    assert target_pixels(default_camera_config={"trackbodyid": 0}) < 2      # Reacher-v5's own view: lost in 84x84


@needs_gl
def test_swimmer_is_followed_from_above_so_its_body_fills_the_frame():
    def body_pixels(steps: int, **kwargs) -> int:
        env = make_pixel_env("Swimmer-v5", PixelConfig(action_repeat=1), **kwargs)
        frame = env.reset(seed=3)[0]
        for t in range(steps):                                   # swims away from where it started
            frame = env.step(np.full(2, 0.5 if t // 5 % 2 else -0.5))[0]
        f = frame[-3:].astype(int)
        return int(((f[0] > f[2] + 60) & (f[1] > f[2] + 20)).sum())   # the orange body

    assert body_pixels(0) >= 250 and body_pixels(200) >= 250    # snnrl.envs.pixels.CAMERAS, after 200 steps too
    assert body_pixels(0, default_camera_config={}) < 120        # Swimmer-v5's own view: a thin line far away


@needs_gl
def test_running_halfcheetah_stays_in_view_of_its_tracking_camera():
    import torch

    from snnrl.agents.zoo import load_teacher

    teacher, _ = load_teacher("td3-halfcheetah")

    def body_pixels_after_running(**kwargs) -> int:
        env = make_pixel_env("HalfCheetah-v5", PixelConfig(action_repeat=1), **kwargs)
        frame, info = env.reset(seed=3)
        with torch.no_grad():
            for _ in range(60):                                  # 13 m at the teacher's speed
                action = teacher(torch.as_tensor(info["state"][None], dtype=torch.float32))[0].numpy()
                frame, _, _, _, info = env.step(action)
        env.close()
        f = frame[-3:].astype(int)
        return int(((f[0] > f[2] + 40) & (f[1] > f[2] + 20) & (f[0] > 120)).sum())   # the tan body

    assert body_pixels_after_running() >= 60                    # snnrl.envs.pixels.TRACKING_CAMERA_TASKS
    assert camera_kwargs("snnrl/HalfCheetahPixelsRepeat1-v5") == camera_kwargs("HalfCheetah-v5") != {}
    assert body_pixels_after_running(camera_name=None) < 10       # gymnasium's free camera: the cheetah has left


@needs_gl
def test_locomotion_tasks_render_without_shadows_and_reflections_and_others_as_the_task_does():
    import mujoco

    def flags(env_id: str) -> tuple[int, int]:
        env = make_pixel_env(env_id)
        frame, _ = env.reset(seed=0)
        scene = env._viewer().scn
        env.close()
        assert frame.std() > 10                                          # a picture, not a blank frame
        return int(scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW]), int(scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION])

    assert scene_flags("snnrl/HopperPixels-v5") == scene_flags("Hopper-v5") == {"shadow": False, "reflection": False}
    assert flags("Hopper-v5") == (0, 0)
    assert scene_flags("InvertedPendulum-v5") == {} and flags("InvertedPendulum-v5") == (1, 1)


@needs_gl
def test_pixel_wrapper_refuses_an_env_that_does_not_render_frames():
    import gymnasium as gym

    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        PixelObservation(gym.make("InvertedPendulum-v5"))
    with pytest.raises(ValueError, match="frame_stack must be an integer >= 1"):
        PixelConfig(frame_stack=0)


def test_no_gl_backend_gives_one_error_naming_the_fix():
    code = ("from snnrl.envs.pixels import make_pixel_env, RenderingError\n"
            "try:\n    make_pixel_env('InvertedPendulum-v5')\n"
            "except RenderingError as e:\n    print('ERROR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MUJOCO_GL": "no-such-backend"})
    line = next(x for x in out.stdout.splitlines() if x.startswith("ERROR"))
    assert "MUJOCO_GL='no-such-backend'" in line and "libosmesa6" in line and "MUJOCO_GL=osmesa" in line


def test_a_failing_render_becomes_a_rendering_error(monkeypatch):
    import gymnasium as gym

    env = gym.make("InvertedPendulum-v5", render_mode="rgb_array", width=32, height=32)
    wrapped = PixelObservation(env)

    def broken() -> None:
        raise OSError("libOSMesa.so: cannot open shared object file")

    monkeypatch.setattr(env.unwrapped, "render", broken)
    with pytest.raises(RenderingError, match="cannot open shared object.*libosmesa6"):
        wrapped.reset(seed=0)


@needs_gl
def test_labelled_rollout_labels_each_frame_with_the_state_teachers_action_on_its_state(monkeypatch):
    import torch

    import snnrl.agents.pixel_teacher as pixel_teacher
    from snnrl.agents.zoo import load_teacher

    teacher, _ = load_teacher("td3-invertedpendulum")
    seen_states: list[np.ndarray] = []

    def act(frames: np.ndarray, states: np.ndarray) -> np.ndarray:
        assert frames.shape == (2, 9, 84, 84) and frames.dtype == np.uint8
        seen_states.append(states.copy())
        return np.zeros((2, 1), np.float32)

    frames, labels, states = pixel_teacher.labelled_rollout(act, teacher, "snnrl/InvertedPendulumPixels-v5", steps=6,
                                                            envs=2, seed=3)
    assert frames.shape == (6, 9, 84, 84) and frames.dtype == torch.uint8 and labels.shape == (6, 1)
    torch.testing.assert_close(states, torch.from_numpy(np.concatenate(seen_states)))
    with torch.no_grad():
        expected = teacher(states)
    torch.testing.assert_close(labels, expected)                  # the state teacher labels the frames' states
    assert torch.unique(frames.flatten(1), dim=0).shape[0] > 2    # distinct frames, not one buffer repeated

    fits = []
    real_fit = pixel_teacher.fit_actions

    def spy(student, data, targets, *args):
        fits.append(data.shape[0])
        return real_fit(student, data, targets, *args)

    monkeypatch.setattr(pixel_teacher, "fit_actions", spy)
    config = pixel_teacher.PixelDistillationConfig(rounds=1, teacher_steps=8, rollout_steps=4, envs=2, epochs=1,
                                                   channels=(4, 4, 4), hidden=8)
    cnn = pixel_teacher.distill_pixel_actor(teacher, "snnrl/InvertedPendulumPixels-v5", config)
    assert fits == [8, 12]                                         # round 1 refits on the aggregated frames
    assert cnn.obs_shape == (9, 84, 84) and cnn.info.algo == "DAgger"
    assert not any("state_head" in key for key in cnn.state_dict())  # the auxiliary head stays behind


def test_state_loss_is_the_weighted_mse_of_the_heads_standardised_state_prediction():
    import torch

    from snnrl.agents.pixel_teacher import PixelDistillationConfig, PixelStudent, pixel_actor, state_loss

    torch.manual_seed(0)
    actor = pixel_actor((3, 36, 36), np.array([-1.0]), np.array([1.0]), env_id="x", channels=(2, 2, 2), hidden=4)
    student = PixelStudent(actor, state_dim=2)
    frames = torch.randint(0, 256, (5, 3, 36, 36), dtype=torch.uint8)
    states = torch.tensor([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0], [4.0, 50.0]])
    rows = torch.tensor([1, 3])
    actions = student(frames[rows])
    torch.testing.assert_close(actions, actor(frames[rows].float() / 255.0))      # the head leaves the actions alone
    standard = (states - states.mean(0)) / states.std(0)
    expected = 3.0 * ((student.state_head(student.features) - standard[rows]) ** 2).mean()
    torch.testing.assert_close(state_loss(student, states, 3.0)(rows), expected, rtol=1e-5, atol=1e-6)
    assert state_loss(student, states, 0.0) is None and state_loss(PixelStudent(actor), states, 1.0) is None
    with pytest.raises(ValueError, match="state_weight must be >= 0"):
        PixelDistillationConfig(state_weight=-1.0)
    with pytest.raises(ValueError, match="lr_schedule must be 'cosine' or 'constant'"):
        PixelDistillationConfig(lr_schedule="step")


@needs_gl
def test_pixel_distillation_killed_after_a_round_resumes_to_the_uninterrupted_result(tmp_path):
    import torch

    import snnrl.agents.pixel_teacher as pixel_teacher
    from snnrl.agents.zoo import load_teacher

    teacher, _ = load_teacher("td3-invertedpendulum")
    env_id = "snnrl/InvertedPendulumPixels-v5"
    config = pixel_teacher.PixelDistillationConfig(rounds=2, teacher_steps=6, rollout_steps=4, envs=2, epochs=1,
                                                   channels=(4, 4, 4), hidden=8, shift=2)   # shifts resume too
    reference = pixel_teacher.distill_pixel_actor(teacher, env_id, config)

    class Killed(Exception):
        pass

    def kill_after_round_1(line: str) -> None:
        if "round 1:" in line:
            raise Killed

    folder = tmp_path / "rounds"
    with pytest.raises(Killed):
        pixel_teacher.distill_pixel_actor(teacher, env_id, config, progress=kill_after_round_1, checkpoint_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["rollout-0.pt", "rollout-1.pt", "student.pt"]
    lines: list[str] = []
    resumed = pixel_teacher.distill_pixel_actor(teacher, env_id, config, progress=lines.append, checkpoint_dir=folder)
    assert lines[0].startswith("pixel distillation: resuming") and "round 1" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["pixel distillation round 2"]   # rounds 0-1 not redone
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="another env or config"):
        pixel_teacher.distill_pixel_actor(teacher, env_id, replace(config, lr=3e-3), checkpoint_dir=folder)


@needs_gl
def test_converted_cnn_runs_closed_loop_on_pixels_with_crpi_and_energy():
    import torch

    from snnrl.agents.conversion import convert_actor, thresholds_from_activations
    from snnrl.agents.crpi import CRPIConfig
    from snnrl.agents.evaluation import run_episodes
    from snnrl.agents.pixel_teacher import pixel_actor
    from snnrl.agents.policy import ConstantPolicy, SpikingPolicy

    torch.manual_seed(0)
    cnn = pixel_actor((9, 84, 84), np.array([-3.0]), np.array([3.0]), env_id="snnrl/InvertedPendulumPixels-v5",
                      channels=(4, 4, 4), hidden=8)
    frames = torch.randint(0, 256, (16, 9, 84, 84), dtype=torch.uint8)
    snn = convert_actor(cnn, thresholds_from_activations(cnn.hidden_activations(frames)))
    policy = SpikingPolicy(snn, timesteps=4, crpi=CRPIConfig(alpha=0.5))
    episodes = run_episodes(policy, "snnrl/InvertedPendulumPixels-v5", episodes=2, seed=0, max_steps=5)
    assert all(1 <= e.length <= 5 and e.energy["energy_pj"] > 0 for e in episodes)   # a random CNN may fall early
    zero = ConstantPolicy(1, 9 * 84 * 84, obs_shape=(9, 84, 84))
    assert run_episodes(zero, "snnrl/InvertedPendulumPixels-v5", episodes=1, seed=0, max_steps=3)[0].length == 3  # upright


def test_random_shift_moves_each_frame_stack_by_one_whole_pixel_offset_with_edge_padding():
    import torch

    from snnrl.agents.pixel_teacher import PixelDistillationConfig, PixelStudent, pixel_actor, random_shift

    frames = torch.randint(0, 256, (32, 3, 10, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert random_shift(frames, 0, torch.Generator()) is frames
    shifted = random_shift(frames, 2, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(frames.float(), (2, 2, 2, 2), mode="replicate")
    offsets = []
    for i in range(32):      # each stack is exactly one crop of its padded self, all channels at the same offset
        hits = [(y, x) for y in range(5) for x in range(5) if torch.equal(padded[i, :, y:y + 10, x:x + 10], shifted[i])]
        assert len(hits) == 1
        offsets.append(hits[0])
    assert len(set(offsets)) > 5                                    # offsets differ between stacks
    with pytest.raises(ValueError, match="shift must be >= 0"):
        PixelDistillationConfig(shift=-1)
    actor = pixel_actor((3, 36, 36), np.array([-1.0]), np.array([1.0]), env_id="x", channels=(2, 2, 2), hidden=4)
    student = PixelStudent(actor, 4, torch.Generator().manual_seed(0))
    obs = torch.randint(0, 256, (8, 3, 36, 36), dtype=torch.uint8)
    clean = actor(obs.float() / 255.0)
    assert not torch.allclose(student(obs), clean)                  # training mode: shifted frames
    torch.testing.assert_close(student.eval()(obs), clean)          # acting: the frames as seen


@pytest.mark.parametrize("script", ["pixel_teachers.py", "pixel_fit.py"])
def test_pixel_teacher_benchmarks_refuse_a_teacher_that_is_not_a_state_teacher_in_one_line(script):
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks", script)
    out = subprocess.run([sys.executable, bench, "pixel-td3-reacher"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "teacher 'pixel-td3-reacher': not a state teacher of the zoo; give one of" in out.stderr
    assert "td3-halfcheetah" in out.stderr.splitlines()[-1]


def test_pixel_teachers_refuses_a_stride_below_one_in_one_line_naming_the_flag():
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks", "pixel_teachers.py")
    out = subprocess.run([sys.executable, bench, "td3-hopper", "--strides", "0", "2", "1"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.splitlines()[-1].endswith("error: --strides 0 2 1: each must be >= 1.")


def test_pixel_fit_rule_prefers_the_cheaper_of_two_fits_within_the_tie_margin():
    from conftest import load_benchmark

    choose = load_benchmark("pixel_fit").chosen_fit
    rows = {"long": {"validation_mse": 0.100, "cost": 4}, "short": {"validation_mse": 0.104, "cost": 2},
            "worse": {"validation_mse": 0.200, "cost": 1}}
    assert choose(rows) == "short"                                  # within 0.005 of the best and cheaper
    rows["short"]["validation_mse"] = 0.106
    assert choose(rows) == "long"                                   # beyond the margin: the lowest error wins
    rows["same"] = {"validation_mse": 0.101, "cost": 4}
    assert choose(rows) == "long"                                   # equal cost: the lower error


def test_pixel_fit_committed_rows_were_fitted_with_their_labels_settings_and_the_default_is_the_chosen_fit():
    import json
    from dataclasses import asdict, fields

    from conftest import load_benchmark

    from snnrl.agents.pixel_teacher import PixelDistillationConfig

    bench = load_benchmark("pixel_fit")
    doc = json.loads(bench.OUT.read_text())
    assert set(doc["raw"]) == set(bench.CANDIDATES)
    for name, row in doc["raw"].items():                        # a moved default must not relabel a committed row
        assert row["config"] == json.loads(json.dumps(asdict(bench.CANDIDATES[name]))), name
    chosen = bench.CANDIDATES[doc["summary"]["chosen"]]
    default = PixelDistillationConfig()
    fit = ("epochs", "lr", "lr_schedule", "state_weight", "shift", "channels", "hidden", "kernels", "strides")
    assert {f.name for f in fields(default)} >= set(fit)
    assert all(getattr(default, f) == getattr(chosen, f) for f in fit), "PixelDistillationConfig is not the chosen fit"


def test_pixel_actor_layout_follows_the_kernels_and_strides():
    import torch
    from torch import nn

    from snnrl.agents.pixel_teacher import PixelDistillationConfig, pixel_actor

    nature = pixel_actor((9, 84, 84), np.array([-1.0]), np.array([1.0]), env_id="x", kernels=(8, 4, 3),
                         strides=(4, 2, 1))
    convs = [m for m in nature.hidden if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0]) for c in convs] == [(8, 4), (4, 2), (3, 1)]
    assert nature.hidden[:6](torch.zeros(1, 9, 84, 84)).shape[-2:] == (7, 7)                     # 84 -> 20 -> 9 -> 7
    fine = pixel_actor((9, 84, 84), np.array([-1.0]), np.array([1.0]), env_id="x")             # the default
    assert fine.hidden[:6](torch.zeros(1, 9, 84, 84)).shape[-2:] == (17, 17)                    # 84 -> 41 -> 19 -> 17
    with pytest.raises(ValueError, match="strides must be three counts >= 1"):
        PixelDistillationConfig(strides=(2, 0, 1))
