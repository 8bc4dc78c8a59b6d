"""Fuzz of every file loader: truncated, bit-flipped, empty, foreign, wrongly shaped and wrong-version files.

Every damaged file must be refused with the toolkit's own error (:class:`snnrl.io.ArtifactError`, or
:class:`snnrl.hardware.profiles.ProfileError` for hardware profiles) whose message names the file, never an
obscure ``KeyError``, ``zipfile.BadZipFile``, ``pickle.UnpicklingError``, ``UnicodeDecodeError``, ... Random bit
flips are the one exception: a flip inside raw tensor bytes or inside a number of a JSON/TOML file can leave a
well-formed file that no loader can tell apart (none of these formats carries a checksum, except the zoo, whose
manifest holds every file's SHA-256), so a flipped file is either refused with the toolkit's error or loads an
object of the right type. Each test case records its outcome (``rejected`` / ``loaded``) with
``record_property``; ``benchmarks/reliability.py`` counts them per loader.

Failing saves (an object that cannot be serialised, a disk that fails on the final rename or fsync, a directory
that refuses new files) must leave an existing good file untouched and loadable.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

import snnrl.continual  # noqa: F401  (torchvision shim before avalanche)
from snnrl.agents.actor import ACTOR_FORMAT_VERSION, ActorInfo, TeacherActor, load_actor, save_actor
from snnrl.agents.conversion import convert_actor, thresholds_from_activations
from snnrl.agents.crpi import CRPIConfig
from snnrl.agents.policy import POLICY_FORMAT_VERSION, SpikingPolicy
from snnrl.agents.teachers import TeacherSpec, TrainingProgress, train_teacher
from snnrl.agents.zoo import load_teacher
from snnrl.continual.experiment import CHECKPOINT_FORMAT_VERSION, ContinualConfig, run_continual
from snnrl.hardware.profiles import ProfileError, builtin_profiles, load_profile, save_profile
from snnrl.io import ArtifactError, load_versioned, save_versioned, sha256_file
from snnrl.results import load_result, write_result

# -- damage ------------------------------------------------------------------------------------------------------

_TRUNCATE_FRACTIONS = (1 / 64, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 5 / 8, 3 / 4, 7 / 8, 15 / 16, 63 / 64)
N_FLIPS = 16


def _truncate(fraction: float | None, absolute: int | None = None) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        end = len(data.rstrip())  # cutting only trailing whitespace of a text file is no damage
        cut = absolute if absolute is not None else int(end * fraction)
        return data[: max(1, min(cut, end - 1))]
    return damage


def _flip(seed: int) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        rng = random.Random(seed)
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= rng.randrange(1, 256)
        return bytes(out)
    return damage


#: Damage that every loader must refuse (name -> bytes -> damaged bytes).
MUST_REJECT: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    **{f"truncate-{f:.3f}": _truncate(f) for f in _TRUNCATE_FRACTIONS},
    "truncate-1-byte": _truncate(None, 1),
    "truncate-last-byte": _truncate(None, 10**12),
    "garbage": lambda data: random.Random(0).randbytes(512),
    "zeroed": lambda data: bytes(len(data)),
    "non-utf8-text": lambda data: b"\xff\xfe\x00\x80 kind = \xc3\x28\n" * 8,
}
#: Damage a loader refuses or, where it cannot be detected, survives with a well-formed object.
MAY_LOAD: dict[str, Callable[[bytes], bytes]] = {f"flip-{i}": _flip(i) for i in range(N_FLIPS)}
#: Well-formed JSON of the wrong shape (JSON loaders only).
WRONG_JSON = {"json-list": [1, 2], "json-number": 3, "json-string": "teachers", "json-null": None,
              "json-empty-object": {}, "json-foreign-object": {"name": 5, "hello": "world"}}
BYTE_DAMAGE = {**MUST_REJECT, **MAY_LOAD}


@dataclass
class Target:
    """One loader under fuzz: its good file, how to call it, what it may raise and what its name must say."""

    path: Path
    load: Callable[[], Any]
    errors: tuple[type[BaseException], ...] = (ArtifactError,)
    named: str = ""                                  # text the message must contain (default: the file's path)
    check: Callable[[Any], bool] = lambda obj: obj is not None
    reset: Callable[[], None] = lambda: None         # restore side files before each case
    flips_detected: bool = False                     # a checksum guards the file: flips must be refused too


def _attempt(target: Target, record_property, loader: str, damage: str, *, may_load: bool) -> str:
    """Run the loader on the damaged file; returns ``"rejected"`` or ``"loaded"`` (and records it, with the
    loader's and the damage's names, for ``benchmarks/reliability.py``)."""
    record_property("loader", loader)
    record_property("damage", damage)
    named = target.named or str(target.path)
    try:
        obj = target.load()
    except target.errors as exc:
        assert named in str(exc), f"error does not name the file {named!r}: {exc}"
        outcome = "rejected"
    else:
        assert may_load, "a damaged file loaded without an error"
        assert target.check(obj), f"a damaged file loaded as a malformed object: {obj!r}"
        outcome = "loaded"
    record_property("outcome", outcome)
    return outcome


# -- good files and loaders ----------------------------------------------------------------------------------------

def _tiny_actor(seed: int = 0) -> TeacherActor:
    torch.manual_seed(seed)
    return TeacherActor(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 2),
                        action_low=-np.ones(2), action_high=np.ones(2), info=ActorInfo(algo="TD3", env_id="none"))


def _tiny_policy() -> SpikingPolicy:
    actor = _tiny_actor()
    thresholds = thresholds_from_activations(actor.hidden_activations(torch.rand(200, 3)))
    return SpikingPolicy(convert_actor(actor, thresholds), timesteps=8, crpi=CRPIConfig(alpha=1.0), meta={"a": 1})


def _policy_ok(policy: Any) -> bool:
    action, _ = policy.predict(np.zeros(3, dtype=np.float32))
    return isinstance(policy, SpikingPolicy) and action.shape == (2,)


def _actor_ok(loaded: Any) -> bool:
    actor, meta = loaded
    return isinstance(actor, TeacherActor) and isinstance(meta, dict) and actor(torch.zeros(1, 3)).shape == (1, 2)


TEACHER_SPEC = TeacherSpec(name="td3-pendulum", algo="TD3", env_id="Pendulum-v1", total_steps=100, target_return=0.0,
                           net_arch=(8, 8), learning_starts=50, eval_every=10**9, extra={"buffer_size": 500})
CONTINUAL = ContinualConfig(benchmark="split-digits", strategy="er", buffer_size=20, n_experiences=5,
                            train_per_class=10, test_per_class=5, seed=0)


@pytest.fixture(scope="module")
def goods(tmp_path_factory) -> dict[str, Path]:
    """Good files of every kind, written once by the toolkit's own savers."""
    root = tmp_path_factory.mktemp("good")
    files = {
        "versioned": save_versioned(root / "thing.pt", kind="thing", version=3, payload={"w": torch.ones(16)}),
        "policy": _tiny_policy().save(root / "policy.pt"),
        "actor": save_actor(root / "actor.pt", _tiny_actor(), meta={"name": "tiny"}),
        "profile": save_profile(builtin_profiles()["spikesim-rram-65nm"], root / "rram.toml"),
        "result": write_result(root / "result.json", "fuzz", config={"seed": 0}, raw=[{"x": 1.5}],
                               summary={"mean": 1.5}),
    }
    TrainingProgress(name="td3-pendulum", steps=100, best_return=-3.5, best_step=50,
                     history=[{"steps": 50, "return_mean": -3.5}]).save(root / "progress.json")
    files["progress"] = root / "progress.json"
    zoo = root / "zoo"
    save_actor(zoo / "td3-tiny.pt", _tiny_actor(1), meta={"name": "td3-tiny"})
    manifest = {"format": "snnrl-teacher-zoo", "format_version": 1,
                "teachers": {"td3-tiny": {"algo": "TD3", "env_id": "none", "file": "td3-tiny.pt",
                                          "sha256": sha256_file(zoo / "td3-tiny.pt")}}}
    (zoo / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    files["zoo"] = zoo
    teacher = root / "teacher"
    train_teacher(TEACHER_SPEC, workdir=teacher, max_steps=100, checkpoint_every=100, eval_episodes=1)
    files["teacher"] = teacher
    run_continual(CONTINUAL, run_dir=root / "continual", progress=False, max_experiences=1)
    files["continual"] = root / "continual"
    return files


def _target(name: str, goods: dict[str, Path], tmp_path: Path) -> Target:
    """A fresh copy of loader ``name``'s good file(s) in ``tmp_path`` and the call that loads it."""
    if name in ("versioned", "policy", "actor", "profile", "result", "progress"):
        path = tmp_path / goods[name].name
        shutil.copyfile(goods[name], path)
        return {
            "versioned": lambda: Target(path, lambda: load_versioned(path, kind="thing", version=3),
                                        check=lambda p: isinstance(p, dict) and "w" in p),
            "policy": lambda: Target(path, lambda: SpikingPolicy.load(path), check=_policy_ok),
            "actor": lambda: Target(path, lambda: load_actor(path), check=_actor_ok),
            "profile": lambda: Target(path, lambda: load_profile(path), errors=(ProfileError,),
                                      check=lambda p: p.crossbar_rows >= 1),
            "result": lambda: Target(path, lambda: load_result(path), check=lambda d: isinstance(d["raw"], list)),
            "progress": lambda: Target(path, lambda: TrainingProgress.load(path, "td3-pendulum"),
                                       check=lambda p: isinstance(p, TrainingProgress)),
        }[name]()
    if name in ("zoo-actor", "zoo-manifest"):
        zoo = tmp_path / "zoo"
        shutil.copytree(goods["zoo"], zoo)
        path = zoo / ("td3-tiny.pt" if name == "zoo-actor" else "manifest.json")
        # A damaged manifest may also lose the teacher's name: load_teacher's documented KeyError names the zoo.
        errors = (ArtifactError,) if name == "zoo-actor" else (ArtifactError, KeyError)
        return Target(path, lambda: load_teacher("td3-tiny", zoo), errors=errors, named=str(zoo),
                      check=_actor_ok, flips_detected=name == "zoo-actor")
    if name in ("teacher-model", "teacher-replay-buffer"):
        work = tmp_path / "teacher"
        shutil.copytree(goods["teacher"], work)
        path = work / ("model.zip" if name == "teacher-model" else "replay_buffer.pkl")

        def reset() -> None:  # an unfinished run, so that train_teacher resumes from the damaged files
            progress = TrainingProgress.load(work / "progress.json", TEACHER_SPEC.name)
            progress.finished = False
            progress.save(work / "progress.json")

        return Target(path, lambda: train_teacher(TEACHER_SPEC, workdir=work, max_steps=100, checkpoint_every=100,
                                                  eval_episodes=1),
                      check=lambda p: isinstance(p, TrainingProgress) and p.finished, reset=reset)
    if name == "continual-checkpoint":
        run = tmp_path / "continual"
        shutil.copytree(goods["continual"], run)
        return Target(run / "checkpoint.pt",
                      lambda: run_continual(CONTINUAL, run_dir=run, progress=False, max_experiences=1),
                      check=lambda r: len(r["class_il_matrix"]) == 1)
    raise AssertionError(name)


BYTE_LOADERS = ("versioned", "policy", "actor", "zoo-actor", "zoo-manifest", "progress", "teacher-model",
                "teacher-replay-buffer", "continual-checkpoint", "profile", "result")
JSON_LOADERS = ("zoo-manifest", "progress", "result")


# -- byte-level damage: every loader -------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", list(BYTE_DAMAGE))
@pytest.mark.parametrize("loader", BYTE_LOADERS)
def test_damaged_file_is_refused_with_a_clear_error(loader, damage, goods, tmp_path, record_property):
    """Truncated, flipped, empty or foreign bytes: the toolkit's error naming the file (flips may load)."""
    target = _target(loader, goods, tmp_path)
    target.reset()
    target.path.write_bytes(BYTE_DAMAGE[damage](target.path.read_bytes()))
    _attempt(target, record_property, loader, damage, may_load=damage in MAY_LOAD and not target.flips_detected)


@pytest.mark.parametrize("shape", list(WRONG_JSON))
@pytest.mark.parametrize("loader", JSON_LOADERS)
def test_json_of_the_wrong_shape_is_refused(loader, shape, goods, tmp_path, record_property):
    """Valid JSON that is not the expected document."""
    target = _target(loader, goods, tmp_path)
    target.path.write_text(json.dumps(WRONG_JSON[shape]))
    _attempt(target, record_property, loader, shape, may_load=False)


def _json_edit(loader: str, edit: str) -> Callable[[dict], None]:
    """Edits of a good JSON document that leave valid JSON but a broken or foreign document."""
    edits: dict[str, dict[str, Callable[[dict], None]]] = {
        "result": {
            "wrong-version": lambda d: d.update(schema_version=2),
            "missing-summary": lambda d: d.pop("summary"),
        },
        "zoo-manifest": {
            "wrong-version": lambda d: d.update(format_version=2),
            "wrong-kind": lambda d: d.update(format="snnrl-something-else"),
            "teachers-list": lambda d: d.update(teachers=["td3-tiny"]),
            "entry-without-hash": lambda d: d["teachers"]["td3-tiny"].pop("sha256"),
            "entry-file-number": lambda d: d["teachers"]["td3-tiny"].update(file=7),
            "entry-missing-file": lambda d: d["teachers"]["td3-tiny"].update(file="gone.pt"),
            "entry-wrong-hash": lambda d: d["teachers"]["td3-tiny"].update(sha256="0" * 64),
        },
        "progress": {
            "steps-string": lambda d: d.update(steps="many"),
            "history-number": lambda d: d.update(history=3),
            "unknown-field": lambda d: d.update(learning_rate=0.1),
            "missing-name": lambda d: d.pop("name"),
        },
    }
    return edits[loader][edit]


JSON_EDITS = [("result", "wrong-version"), ("result", "missing-summary"),
              *[("zoo-manifest", e) for e in ("wrong-version", "wrong-kind", "teachers-list", "entry-without-hash",
                                              "entry-file-number", "entry-missing-file", "entry-wrong-hash")],
              *[("progress", e) for e in ("steps-string", "history-number", "unknown-field", "missing-name")]]


@pytest.mark.parametrize(("loader", "edit"), JSON_EDITS)
def test_json_document_of_another_version_or_layout_is_refused(loader, edit, goods, tmp_path, record_property):
    """Well-formed JSON of another schema version, kind or field layout."""
    target = _target(loader, goods, tmp_path)
    doc = json.loads(target.path.read_text())
    _json_edit(loader, edit)(doc)
    target.path.write_text(json.dumps(doc))
    _attempt(target, record_property, loader, edit, may_load=False)


TOML_TEXTS = {
    "kind-number": "kind = 5\n",
    "kind-array": 'kind = ["imc"]\n',
    "base-table": 'kind = "imc"\nbase = { name = "x" }\n',
    "unknown-field": 'kind = "imc"\nbase = "spikesim-rram-65nm"\nadc_energy = 1.0\n',
    "wrong-type": 'kind = "imc"\nbase = "spikesim-rram-65nm"\nadc_energy_pj = "cheap"\n',
    "negative": 'kind = "imc"\nbase = "spikesim-rram-65nm"\nadc_energy_pj = -1.0\n',
    "nested-table": 'kind = "imc"\nbase = "spikesim-rram-65nm"\n[adc]\nenergy_pj = 1.0\n',
    "missing-fields": 'kind = "imc"\nname = "x"\n',
    "bad-syntax": 'kind = "imc\nname = x\n',
    "json-not-toml": '{"kind": "imc"}\n',
}


@pytest.mark.parametrize("text", list(TOML_TEXTS))
def test_profile_of_the_wrong_layout_is_refused(text, goods, tmp_path, record_property):
    """Readable TOML that is not a valid hardware profile."""
    target = _target("profile", goods, tmp_path)
    target.path.write_text(TOML_TEXTS[text])
    _attempt(target, record_property, "profile", text, may_load=False)


# -- versioned torch files: wrong version, kind or payload ------------------------------------------------------------

VERSIONED = {  # loader -> (kind, version) it reads
    "versioned": ("thing", 3),
    "policy": ("snnrl-spiking-policy", POLICY_FORMAT_VERSION),
    "actor": ("snnrl-teacher-actor", ACTOR_FORMAT_VERSION),
    "continual-checkpoint": ("snnrl-continual-checkpoint", CHECKPOINT_FORMAT_VERSION),
}
HEADER_DAMAGE = ("older-version", "newer-version", "other-kind", "no-header", "no-payload")


@pytest.mark.parametrize("damage", HEADER_DAMAGE)
@pytest.mark.parametrize("loader", list(VERSIONED))
def test_versioned_file_of_another_version_or_kind_is_refused(loader, damage, goods, tmp_path, record_property):
    """A readable torch file with the wrong header."""
    target = _target(loader, goods, tmp_path)
    kind, version = VERSIONED[loader]
    blob = torch.load(target.path, weights_only=True)
    payload = blob["payload"]
    if damage == "no-header":
        torch.save(payload, target.path)
    elif damage == "no-payload":
        torch.save({"format": kind, "format_version": version}, target.path)
    else:
        kind = "snnrl-other" if damage == "other-kind" else kind
        version = {"older-version": version - 1, "newer-version": version + 1}.get(damage, version)
        save_versioned(target.path, kind=kind, version=version, payload=payload)
    _attempt(target, record_property, loader, damage, may_load=False)


def _payload_edits(loader: str) -> dict[str, Callable[[Any], Any]]:
    """Payloads with the right header but wrong content, per loader (a function returns the new payload)."""
    def edit(fn: Callable[[Any], None]) -> Callable[[Any], Any]:
        def apply(payload: Any) -> Any:
            payload = copy.deepcopy(payload)
            fn(payload)
            return payload
        return apply

    def variant(fn: Callable[[Any], None]) -> Callable[[Any], Any]:
        return edit(lambda p: fn(next(iter(p["variants"].values()))))

    common = {"payload-list": lambda p: [1, 2], "payload-none": lambda p: None, "payload-empty": lambda p: {}}
    per_loader: dict[str, dict[str, Callable[[Any], Any]]] = {
        "policy": {  # a file of format 2 holds one payload per T under "variants"
            "widths-mismatch": variant(lambda p: p.update(widths=[5, 8])),
            "widths-empty": variant(lambda p: p.update(widths=[])),
            "state-dict-list": variant(lambda p: p.update(state_dict=[1])),
            "missing-threshold": variant(lambda p: p["state_dict"].pop("neurons.1.threshold")),
            "weight-shape": variant(lambda p: p["state_dict"].update({"input_layer.weight": torch.ones(2, 2)})),
            "crpi-unknown-field": variant(lambda p: p.update(crpi={"alpha": 1.0, "beta": 2})),
            "timesteps-zero": variant(lambda p: p.update(timesteps=0)),
            "meta-list": variant(lambda p: p.update(meta=[1, 2])),
            "variants-empty": edit(lambda p: p.update(variants={})),
            "variants-list": edit(lambda p: p.update(variants=[1])),
            "variant-key-not-a-number": edit(lambda p: p.update(variants={"four": p["variants"].popitem()[1]})),
        },
        "actor": {
            "unknown-activation": edit(lambda p: p["layers"].__setitem__(1, {"type": "Softmax2"})),
            "layer-without-size": edit(lambda p: p["layers"].__setitem__(0, {"type": "Linear"})),
            "layers-number": edit(lambda p: p.update(layers=3)),
            "head-shape": edit(lambda p: p.update(head={"type": "Linear", "in": 8, "out": 5})),
            "bad-squash": edit(lambda p: p["info"].update(squash="sigmoid")),
            "state-dict-list": edit(lambda p: p.update(state_dict=[1])),
            "meta-list": edit(lambda p: p.update(meta=[1, 2])),
        },
        "continual-checkpoint": {
            "no-model": edit(lambda p: p.pop("model")),
            "model-of-another-net": edit(lambda p: p.update(model={"x": torch.ones(1)})),
            "model-weight-shape": edit(lambda p: p["model"].update({next(iter(p["model"])): torch.ones(3)})),
            "other-config": edit(lambda p: p["config"].update(seed=99)),
            "rng-wrong-size": edit(lambda p: p.update(torch_rng=torch.ones(3, dtype=torch.uint8))),
            "rng-float": edit(lambda p: p.update(torch_rng=torch.ones(3))),
            "python-rng-foreign": edit(lambda p: p.update(python_rng=(1, 2))),
            "encoding-rng-wrong-size": edit(lambda p: p.update(encoding_rng=torch.ones(3, dtype=torch.uint8))),
            "state-empty": edit(lambda p: p.update(state={})),
            "state-list": edit(lambda p: p.update(state=[1])),
            "next-experience-string": edit(lambda p: p["state"].update(next_experience="x")),
            "next-experience-too-large": edit(lambda p: p["state"].update(next_experience=99)),
            "next-experience-negative": edit(lambda p: p["state"].update(next_experience=-3)),
            "matrix-rows-missing": edit(lambda p: p["state"].update(class_il=[])),
        },
        "continual-buffer": {  # the replay buffer's state inside a continual checkpoint
            "buffer-none": edit(lambda p: p.update(buffer=None)),
            "buffer-list": edit(lambda p: p.update(buffer=[1])),
            "other-capacity": edit(lambda p: p["buffer"].update(capacity=7)),
            "no-data": edit(lambda p: p["buffer"].pop("data")),
            "data-wrong-rows": edit(lambda p: p["buffer"].update(data={"x": torch.ones(3, 64)})),
            "data-not-tensor": edit(lambda p: p["buffer"].update(data={"x": [1, 2]})),
            "seen-negative": edit(lambda p: p["buffer"].update(seen=-5)),
            "seen-string": edit(lambda p: p["buffer"].update(seen="many")),
            "generator-wrong-size": edit(lambda p: p["buffer"].update(generator=torch.ones(3, dtype=torch.uint8))),
        },
    }
    return {**common, **per_loader[loader]} if loader != "continual-buffer" else per_loader[loader]


PAYLOAD_CASES = [(loader, name) for loader in ("policy", "actor", "continual-checkpoint", "continual-buffer")
                 for name in _payload_edits(loader)]


@pytest.mark.parametrize(("loader", "edit"), PAYLOAD_CASES)
def test_versioned_file_with_a_damaged_payload_is_refused(loader, edit, goods, tmp_path, record_property):
    """The right header over a payload that is not what the loader wrote."""
    file_loader = "continual-checkpoint" if loader == "continual-buffer" else loader
    target = _target(file_loader, goods, tmp_path)
    kind, version = VERSIONED[file_loader]
    payload = load_versioned(target.path, kind=kind, version=version)
    save_versioned(target.path, kind=kind, version=version, payload=_payload_edits(loader)[edit](payload))
    _attempt(target, record_property, loader, edit, may_load=False)


@pytest.mark.parametrize("loader", BYTE_LOADERS)
def test_a_directory_in_place_of_the_file_is_refused(loader, goods, tmp_path, record_property):
    """The path exists but is a directory."""
    target = _target(loader, goods, tmp_path)
    target.reset()
    target.path.unlink()
    target.path.mkdir()
    _attempt(target, record_property, loader, "directory", may_load=False)


# -- failing saves never damage a good file --------------------------------------------------------------------------

def _savers(tmp_path: Path) -> dict[str, tuple[Path, Callable[[], Any], Callable[[], Any], Callable[[], Any]]]:
    """name -> (path, good save, failing save (bad object), load) for every saver of the toolkit."""
    policy = _tiny_policy()
    bad_policy = _tiny_policy()
    bad_policy.meta = {"callback": lambda: None}      # not serialisable
    progress = TrainingProgress(name="x", steps=5)
    bad_progress = TrainingProgress(name="x", steps=6, history=[{"steps": object()}])
    rram = builtin_profiles()["spikesim-rram-65nm"]
    p = {k: tmp_path / v for k, v in dict(policy="policy.pt", actor="actor.pt", versioned="thing.pt",
                                             progress="progress.json", profile="rram.toml",
                                             result="result.json").items()}
    return {
        "policy": (p["policy"], lambda: policy.save(p["policy"]), lambda: bad_policy.save(p["policy"]),
                   lambda: SpikingPolicy.load(p["policy"])),
        "actor": (p["actor"], lambda: save_actor(p["actor"], _tiny_actor()),
                  lambda: save_actor(p["actor"], _tiny_actor(), meta={"f": lambda: None}),
                  lambda: load_actor(p["actor"])),
        "versioned": (p["versioned"], lambda: save_versioned(p["versioned"], kind="t", version=1, payload=[1]),
                      lambda: save_versioned(p["versioned"], kind="t", version=1, payload=[lambda: None]),
                      lambda: load_versioned(p["versioned"], kind="t", version=1)),
        "progress": (p["progress"], lambda: progress.save(p["progress"]), lambda: bad_progress.save(p["progress"]),
                     lambda: TrainingProgress.load(p["progress"], "x")),
        "profile": (p["profile"], lambda: save_profile(rram, p["profile"]),
                    lambda: save_profile(object(), p["profile"]), lambda: load_profile(p["profile"])),
        "result": (p["result"], lambda: write_result(p["result"], "b", config={}, raw=[], summary={}),
                   lambda: write_result(p["result"], "b", config={"x": object()}, raw=[], summary={}),
                   lambda: load_result(p["result"])),
    }


SAVERS = ("policy", "actor", "versioned", "progress", "profile", "result")
DISK_FAILURES = ("unserialisable", "rename-fails", "fsync-fails", "directory-refuses-files")


@pytest.mark.parametrize("failure", DISK_FAILURES)
@pytest.mark.parametrize("saver", SAVERS)
def test_failing_save_keeps_the_good_file(saver, failure, tmp_path, monkeypatch, record_property):
    """A save that fails (bad object, failing disk, read-only directory) leaves the old file intact and loadable."""
    path, save, bad_save, load = _savers(tmp_path)[saver]
    save()
    before = path.read_bytes()
    if failure == "unserialisable":
        action = bad_save
    else:
        def boom(*args, **kwargs):
            raise (PermissionError(13, "Permission denied") if failure == "directory-refuses-files"
                   else OSError(28, "No space left on device"))

        target = {"rename-fails": "os.replace", "fsync-fails": "os.fsync",
                  "directory-refuses-files": "tempfile.mkstemp"}[failure]
        monkeypatch.setattr(target, boom)
        action = save
    with pytest.raises(Exception):  # noqa: B017 - any error: the point is what is left on disk
        action()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(q.name for q in tmp_path.iterdir()) == [path.name]  # no temporary file left behind
    load()
    record_property("saver", saver)
    record_property("failure", failure)
    record_property("outcome", "kept")


def test_failing_teacher_checkpoint_keeps_the_good_file(tmp_path, record_property):
    """The SB3 checkpoint writer: a save that dies half-way leaves the previous checkpoint in place."""
    from snnrl.agents.teachers import _atomic_sb3_save

    target = tmp_path / "model.zip"
    target.write_bytes(b"good checkpoint")

    def dies_half_way(path: Path) -> None:
        Path(path).write_bytes(b"half a chec")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        _atomic_sb3_save(dies_half_way, target)
    assert target.read_bytes() == b"good checkpoint"
    record_property("saver", "teacher-checkpoint")
    record_property("failure", "dies-half-way")
    record_property("outcome", "kept")
