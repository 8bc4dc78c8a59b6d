"""MuJoCo tasks observed through rendered frames, as DrQ-v2 sees them: 84x84 RGB, 3 stacked frames, action repeat 2.

:class:`PixelObservation` wraps a gymnasium MuJoCo env made with ``render_mode="rgb_array"``. Its observation is
the last ``frame_stack`` rendered frames, channel-first ``uint8 [3·frame_stack, size, size]`` (the layout SB3's
``CnnPolicy`` takes without transposing); one agent step repeats the action ``action_repeat`` times and sums the
rewards, stopping early when the episode ends. ``info["state"]`` holds the inner env's last vector observation,
so a state-based teacher can label the frames (pixel distillation).

Registered ids, for the zoo's MuJoCo tasks (:data:`PIXEL_TASKS`), when :mod:`snnrl.envs` is imported (which
the toolkit's rollouts and evaluations do): ``snnrl/<Task>Pixels-v5`` with DrQ-v2's action repeat 2, and
``snnrl/<Task>PixelsRepeat1-v5`` acting at every step, the control rate the state teachers of the zoo were trained
at (td3-invertedpendulum, which balances for all 1000 steps at repeat 1, falls within 18-38 agent steps at repeat 2,
so it cannot label frames for a repeat-2 student). Time limits count agent steps: the task's limit divided by the
action repeat.

Offscreen rendering needs an OpenGL backend. :func:`make_pixel_env` picks ``MUJOCO_GL=osmesa`` (Debian's
``libosmesa6``, software rendering, what ``make`` installs) unless ``MUJOCO_GL`` is set, and turns a failing
first render into a :class:`RenderingError` that names the fix.

Example
-------
>>> env = make_pixel_env("InvertedPendulum-v5")                                       # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                                                     # doctest: +SKIP
>>> obs.shape, obs.dtype, info["state"].shape                                         # doctest: +SKIP
((9, 84, 84), dtype('uint8'), (4,))
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["PixelConfig", "PixelObservation", "RenderingError", "make_pixel_env", "GL_FIX", "PIXEL_TASKS", "CAMERAS",
           "TRACKING_CAMERA_TASKS", "camera_kwargs", "scene_flags", "pixel_env_id", "register_pixel_envs"]

PIXEL_TASKS = ("InvertedPendulum", "InvertedDoublePendulum", "Reacher", "HalfCheetah", "Hopper", "Walker2d",
               "Swimmer")
"""MuJoCo tasks registered with pixel observations (``snnrl/<Task>Pixels-v5``)."""

CAMERAS: dict[str, dict[str, Any]] = {
    "Reacher": {"distance": 0.6, "elevation": -90.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.0), "trackbodyid": -1},
    "Swimmer": {"distance": 4.0, "elevation": -90.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.0), "trackbodyid": 1},
}
"""Cameras replacing a task's default view in :func:`make_pixel_env` (``default_camera_config``): Reacher's default
view shows the arena from afar, its target 1 pixel wide at 84x84; from above, as DeepMind Control's reacher, the
reachable disk fills the frame and the target is 3 pixels wide. Swimmer's default view looks along the floor from
afar (the swimmer a thin line); from above, centred where it starts, the body fills a third of the frame (its
``trackbodyid`` is ignored by a free camera: the view does not follow a swimmer that has swum far)."""

TRACKING_CAMERA_TASKS = ("HalfCheetah", "Hopper", "Walker2d")
"""Locomotion tasks rendered through their model's own ``track`` camera (MuJoCo ``trackcom``: a side view that
follows the body's centre of mass, as DeepMind Control's). gymnasium renders them with a free camera that stays where
the episode starts (a free camera ignores their ``trackbodyid`` settings): a running HalfCheetah leaves that view
within about 40 steps, and a CNN would see an empty floor. They are also rendered without shadows and floor
reflections (:func:`scene_flags`): in software rendering those cost most of the frame (HalfCheetah 70 against 9 ms,
Hopper 83 against 22 ms per 84x84 frame on a loaded 2-core machine) and show nothing the body's own pixels do not."""

GL_FIX = ("install Debian's libosmesa6 (`apt-get install libosmesa6`, which `make` does) and set MUJOCO_GL=osmesa, "
          "or set MUJOCO_GL=egl on a machine with a working EGL driver")


class RenderingError(RuntimeError):
    """MuJoCo could not render offscreen (no usable OpenGL backend)."""


@dataclass(frozen=True)
class PixelConfig:
    """Frame size (square), frames per observation and inner steps per agent step (DrQ-v2's: 84, 3, 2)."""

    size: int = 84
    frame_stack: int = 3
    action_repeat: int = 2

    def __post_init__(self) -> None:
        for name in ("size", "frame_stack", "action_repeat"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"PixelConfig.{name} must be an integer >= 1, got {value!r}.")


class PixelObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observe ``env`` through its rendered frames (module docstring).

    Parameters
    ----------
    env
        A MuJoCo env made with ``render_mode="rgb_array"`` and ``width = height = size``.
    frame_stack, action_repeat
        Frames per observation; inner steps per agent step.
    """

    def __init__(self, env: gym.Env, *, frame_stack: int = 3, action_repeat: int = 2) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, frame_stack=frame_stack, action_repeat=action_repeat)
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(f"PixelObservation needs an env made with render_mode='rgb_array', got "
                             f"{env.render_mode!r}: use make_pixel_env(env_id) or gym.make(id, render_mode='rgb_array').")
        config = PixelConfig(frame_stack=frame_stack, action_repeat=action_repeat)
        self.frame_stack, self.action_repeat = config.frame_stack, config.action_repeat
        height = int(getattr(env.unwrapped, "height", 0) or 0) or None
        width = int(getattr(env.unwrapped, "width", 0) or 0) or None
        if height is None or width is None:
            raise ValueError("PixelObservation needs a MuJoCo env with a known frame size (its width and height).")
        self.observation_space = spaces.Box(0, 255, (3 * self.frame_stack, height, width), np.uint8)
        self._frames: deque[np.ndarray] = deque(maxlen=self.frame_stack)

    def _viewer(self) -> Any:
        """The MuJoCo offscreen viewer (``None`` before the first frame)."""
        return getattr(getattr(self.env.unwrapped, "mujoco_renderer", None), "viewer", None)

    def _render(self, *, unwrapped: bool = False) -> np.ndarray:
        viewer = self._viewer()
        try:
            if viewer is not None:      # gymnasium binds a viewer's GL context only when it creates it
                viewer.make_context_current()
            frame = (self.env.unwrapped if unwrapped else self.env).render()
        except Exception as exc:  # noqa: BLE001 - every backend fails differently; all mean "no GL"
            raise RenderingError(f"MuJoCo offscreen rendering failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r} "
                                 f"({type(exc).__name__}: {str(exc)[:120]}): {GL_FIX}.") from exc
        if frame is None or np.asarray(frame).ndim != 3:
            raise RenderingError(f"the env rendered {type(frame).__name__}, not an RGB frame: {GL_FIX}.")
        return np.ascontiguousarray(np.asarray(frame, dtype=np.uint8).transpose(2, 0, 1))

    def close(self) -> None:
        """Free the viewer's MuJoCo render context in its own GL context, then close the env.

        gymnasium's close destroys the GL context but leaves the ``MjrContext`` to the garbage collector, whose
        ``mjr_freeContext`` then deletes GL objects by id in whatever context is current: another pixel env's
        framebuffer, which from then on renders black frames."""
        viewer = self._viewer()
        con = getattr(viewer, "con", None)
        if con is not None and getattr(viewer.opengl_context, "_context", True):
            viewer.make_context_current()
            con.free()
        super().close()

    def _observation(self) -> np.ndarray:
        return np.concatenate(list(self._frames), axis=0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        state, info = self.env.reset(seed=seed, options=options)
        frame = self._render()
        for _ in range(self.frame_stack):
            self._frames.append(frame)
        return self._observation(), {**info, "state": np.asarray(state)}

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        total = 0.0
        terminated = truncated = False
        info: dict[str, Any] = {}
        state: Any = None
        for _ in range(self.action_repeat):
            state, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        self._frames.append(self._render())
        return self._observation(), total, terminated, truncated, {**info, "state": np.asarray(state)}


def make_pixel_env(env_id: str, config: PixelConfig | None = None, **make_kwargs: Any) -> PixelObservation:
    """``gym.make(env_id)`` rendered at ``config.size`` and wrapped in :class:`PixelObservation`.

    Sets ``MUJOCO_GL=osmesa`` unless ``MUJOCO_GL`` is already set; renders one frame to check the backend, raising
    :class:`RenderingError` with the fix when it fails.
    """
    config = config or PixelConfig()
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    if not {"default_camera_config", "camera_name", "camera_id"} & make_kwargs.keys():     # else the caller's view
        make_kwargs = {**make_kwargs, **camera_kwargs(env_id)}
        if "default_camera_config" in make_kwargs:
            view = make_kwargs["default_camera_config"]
            make_kwargs["default_camera_config"] = {**view, "lookat": np.array(view["lookat"])}
    try:
        env = gym.make(env_id, render_mode="rgb_array", width=config.size, height=config.size, **make_kwargs)
    except (ImportError, OSError, AttributeError, RuntimeError) as exc:
        raise RenderingError(f"could not create {env_id} with offscreen rendering (MUJOCO_GL="
                             f"{os.environ.get('MUJOCO_GL')!r}; {type(exc).__name__}: {str(exc)[:120]}): "
                             f"{GL_FIX}.") from exc
    wrapped = PixelObservation(env, frame_stack=config.frame_stack, action_repeat=config.action_repeat)
    wrapped._render(unwrapped=True)    # fail now, with the fix, rather than at the first reset of a long run
    flags = scene_flags(env_id)
    if flags:
        import mujoco

        viewer = wrapped._viewer()     # made by the first render; it keeps its scene for every later frame
        for name, on in flags.items():
            viewer.scn.flags[getattr(mujoco.mjtRndFlag, f"mjRND_{name.upper()}")] = int(on)
    return wrapped


def camera_kwargs(env_id: str) -> dict[str, Any]:
    """The ``gym.make`` keywords of the view :func:`make_pixel_env` renders ``env_id`` from (JSON-ready):
    :data:`CAMERAS`' free camera, the model's ``track`` camera for :data:`TRACKING_CAMERA_TASKS`, else ``{}`` (the
    task's own view). ``env_id``: the MuJoCo id (``"HalfCheetah-v5"``) or its registered pixel id."""
    task = _task_of(env_id)
    if task in CAMERAS:
        return {"default_camera_config": {k: list(v) if isinstance(v, tuple) else v for k, v in CAMERAS[task].items()}}
    return {"camera_name": "track"} if task in TRACKING_CAMERA_TASKS else {}


def scene_flags(env_id: str) -> dict[str, bool]:
    """MuJoCo render flags :func:`make_pixel_env` sets for ``env_id`` (the MuJoCo or pixel id): shadows and
    reflections off for :data:`TRACKING_CAMERA_TASKS`, else ``{}`` (the task's own rendering)."""
    task = _task_of(env_id)
    return {"shadow": False, "reflection": False} if task in TRACKING_CAMERA_TASKS else {}


def _task_of(env_id: str) -> str:
    """``"HalfCheetah"`` of ``"HalfCheetah-v5"`` and of ``"snnrl/HalfCheetahPixelsRepeat1-v5"``."""
    return env_id.split("/")[-1].split("-")[0].split("Pixels")[0]


def pixel_env_id(task: str, action_repeat: int = 2) -> str:
    """The registered pixel id of a MuJoCo ``task`` (``"Hopper"`` or ``"Hopper-v5"``): ``snnrl/HopperPixels-v5``
    (action repeat 2) or ``snnrl/HopperPixelsRepeat1-v5`` (``action_repeat=1``)."""
    name = task.split("-")[0]
    if name not in PIXEL_TASKS:
        raise ValueError(f"no pixel version of {task!r}; registered tasks: {', '.join(PIXEL_TASKS)}.")
    if action_repeat not in (1, 2):
        raise ValueError(f"pixel tasks are registered with action repeat 1 or 2, got {action_repeat}; build others "
                         "with make_pixel_env(env_id, PixelConfig(action_repeat=...)).")
    return f"snnrl/{name}Pixels{'' if action_repeat == 2 else 'Repeat1'}-v5"


def _registered(env_id: str, size: int, frame_stack: int, action_repeat: int, **kwargs: Any) -> gym.Env:
    return make_pixel_env(env_id, PixelConfig(size, frame_stack, action_repeat), **kwargs)


def register_pixel_envs() -> None:
    """Register ``snnrl/<Task>Pixels-v5`` and ``snnrl/<Task>PixelsRepeat1-v5`` for every task of
    :data:`PIXEL_TASKS` (idempotent)."""
    for task in PIXEL_TASKS:
        for config in (PixelConfig(), PixelConfig(action_repeat=1)):
            pixel_id = pixel_env_id(task, config.action_repeat)
            if pixel_id in gym.registry:
                continue
            inner = gym.spec(f"{task}-v5")
            limit = None if inner.max_episode_steps is None else -(-inner.max_episode_steps // config.action_repeat)
            gym.register(id=pixel_id, entry_point=_registered, max_episode_steps=limit,
                         kwargs={"env_id": f"{task}-v5", "size": config.size, "frame_stack": config.frame_stack,
                                 "action_repeat": config.action_repeat})
