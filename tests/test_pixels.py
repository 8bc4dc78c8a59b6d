"""Pixel observations: the rendered-frame wrapper and its no-GL error."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from snnrl.envs.pixels import PixelConfig, PixelObservation, RenderingError, make_pixel_env

needs_gl = pytest.mark.skipif(not glob.glob("/usr/lib/*/libOSMesa.so*") and "MUJOCO_GL" not in os.environ,
                              reason="no offscreen OpenGL (install libosmesa6: `make data`)")


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
