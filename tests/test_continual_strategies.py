"""Strategies on split digits (scikit-learn, offline): ER beats Naive, resume after a crash, clear errors; the STAER
and DER++ loss terms on a fixed tiny batch and buffer, against hand computations."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import snnrl.continual  # noqa: F401  (torchvision shim before avalanche)
from snnrl.continual.backbones import make_backbone
from snnrl.continual.buffer import ReservoirBuffer
from snnrl.continual.experiment import ContinualConfig, run_continual
from snnrl.continual.soft_dtw import soft_dtw_divergence
from snnrl.continual.strategies import (DERPPPlugin, ERPlugin, STAERConfig, STAERPlugin, check_sequence_logits,
                                        make_strategy)
from snnrl.io import ArtifactError

QUICK = dict(benchmark="split-digits", backbone="mlp", timesteps=4, batch_size=10, lr=3e-3, n_experiences=5,
             buffer_size=100, epochs=2)


class _Crash(RuntimeError):
    """A simulated crash right after a checkpoint."""


def _crash_after(experience: int):
    """An ``after_experience`` callback that crashes once experience ``experience`` is checkpointed."""
    def callback(index, state):
        if index == experience:
            raise _Crash

    return callback


def test_er_beats_naive_after_two_experiences():
    naive = [run_continual(ContinualConfig(strategy="naive", seed=s, **QUICK), progress=False, max_experiences=2)
             for s in (0, 1)]
    er = [run_continual(ContinualConfig(strategy="er", seed=s, **QUICK), progress=False, max_experiences=2)
          for s in (0, 1)]
    acc = lambda runs: np.mean([r["class_il_matrix"][-1][:2] for r in runs])  # noqa: E731
    # Naive forgets the first experience almost entirely; ER keeps it.
    assert acc(er) > acc(naive) + 0.2, (acc(er), acc(naive))
    assert all(r["class_il_matrix"][-1][0] < 0.3 for r in naive)


@pytest.mark.parametrize("strategy", ["derpp", "staer"])
def test_rehearsal_strategies_run_and_remember(strategy):
    result = run_continual(ContinualConfig(strategy=strategy, seed=0, **QUICK), progress=False, max_experiences=2)
    matrix = np.array(result["class_il_matrix"])
    assert matrix.shape == (2, 5) and matrix[-1][0] > 0.3
    assert result["task_il_matrix"][-1][0] >= matrix[-1][0]  # task-IL is never harder than class-IL


# -- STAER / DER++ loss terms on a fixed tiny batch and buffer ------------------------------------------------------
# The end-to-end run above cannot tell a working alignment term from a missing one (STAER without it still
# remembers as well as ER does); these tests build the plugins directly and check every term by hand.

T, B, C = 4, 6, 3          # timesteps, batch (even: the T/2 and 2T terms use the first B/2 rows), classes


def _net(seed: int, timesteps: int = T) -> torch.nn.Module:
    torch.manual_seed(seed)
    return make_backbone("mlp", (5,), C, timesteps=timesteps, hidden=(12,)).double()  # float64: tight tolerances


def _inputs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.rand(n, 5, generator=g, dtype=torch.float64)                             # large enough to spike
    return x, torch.randint(0, C, (n,), generator=g)


def _er_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss before ``before_backward``: cross-entropy of the time-averaged logits (the same for ER and STAER)."""
    return F.cross_entropy(model(x).mean(0), y)


def _strategy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> SimpleNamespace:
    """What the plugins read from an Avalanche strategy at ``before_backward`` (the plugins add to ``loss`` in
    place, so compare with a separately computed :func:`_er_loss`)."""
    return SimpleNamespace(model=model, mb_x=x, mb_y=y, train_mb_size=len(x), mb_output_seq=None,
                           loss=_er_loss(model, x, y))


def _views(model: torch.nn.Module, x: torch.Tensor, timesteps: int = T) -> dict[str, torch.Tensor]:
    """Per-timestep logits ``[n, steps, C]`` of ``x`` played for ``T``, ``T/2`` and ``2T`` steps."""
    with torch.no_grad():
        return {"logits": model(x, timesteps=timesteps).transpose(0, 1),
                "logits_half": model(x, timesteps=max(1, timesteps // 2)).transpose(0, 1),
                "logits_double": model(x, timesteps=2 * timesteps).transpose(0, 1)}


def _staer_buffer() -> ReservoirBuffer:
    """A full buffer of 8 samples whose stored logits come from an *older* network (so every divergence is > 0)."""
    xb, yb = _inputs(8, seed=1)
    stored = _views(_net(seed=7), xb)
    buffer = ReservoirBuffer(8, seed=0)
    buffer.add(x=xb, y=yb, record=lambda kept: {k: v[kept] for k, v in stored.items()})
    return buffer


def _replay_index(generator_state: torch.Tensor, size: int, n: int, draws: int = 1) -> list[torch.Tensor]:
    """The rows ``ReservoirBuffer.sample(n)`` draws (``draws`` times in a row) from a generator in this state."""
    g = torch.Generator()
    g.set_state(generator_state)
    return [torch.randperm(size, generator=g)[:n] for _ in range(draws)]


def _staer_terms(model: torch.nn.Module, buffer: ReservoirBuffer, generator_state: torch.Tensor):
    """By hand: the three Soft-DTW divergences of the STAER alignment loss (methods notes, section 3)."""
    (index,) = _replay_index(generator_state, len(buffer), B)
    x = buffer.data["x"][index]
    current = model(x).transpose(0, 1)                                         # f(x)_T, [B, T, C]
    d = lambda a, b: soft_dtw_divergence(a, b, gamma=1.0, normalize=True).mean()  # noqa: E731
    half = B // 2
    return (d(current, buffer.data["logits"][index]),                           # D(f(x)_T, z_T)
            d(current[:half], buffer.data["logits_half"][index][:half]),        # D(f(x[:B/2])_T, z_{T/2})
            d(current[:half], buffer.data["logits_double"][index][:half]))      # D(f(x[:B/2])_T, z_{2T})


def _staer_loss(config: STAERConfig) -> tuple[torch.Tensor, STAERPlugin, torch.Tensor, SimpleNamespace]:
    """``(loss, plugin, generator state before, strategy)`` after STAER's ``before_backward`` on the fixed batch."""
    model = _net(seed=0)
    x, y = _inputs(B, seed=2)
    plugin = STAERPlugin(_staer_buffer(), config=config)
    strategy = _strategy(model, x, y)
    strategy.loss_before = strategy.loss
    state = plugin.buffer.generator.get_state()
    plugin.before_backward(strategy)
    return strategy.loss, plugin, state, strategy


def _grads(loss: torch.Tensor, model: torch.nn.Module) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(model.parameters()), retain_graph=True))


def test_staer_alignment_term_changes_loss_and_gradient_versus_er():
    model = _net(seed=0)
    x, y = _inputs(B, seed=2)
    buffer = _staer_buffer()
    er, staer = _strategy(model, x, y), _strategy(model, x, y)
    ERPlugin(buffer, minibatch_size=None).before_backward(er)     # ER adds nothing at this point
    config = STAERConfig()                                        # reference values: beta 1e-4, alpha1 = alpha2 = 0.5
    plugin = STAERPlugin(buffer, config=config)
    state = buffer.generator.get_state()
    plugin.before_backward(staer)
    d_t, d_half, d_double = _staer_terms(model, buffer, state)
    assert min(d_t, d_half, d_double) > 1e-3                      # the old logits really differ from the current ones
    alignment = config.beta * (d_t + 0.5 * d_half + 0.5 * d_double) / 2.0
    assert staer.loss.item() != er.loss.item()
    torch.testing.assert_close(staer.loss - er.loss, alignment, rtol=1e-9, atol=0)
    assert plugin.last_alignment == pytest.approx(alignment.item(), rel=1e-9)
    # the gradient moves by exactly the gradient of the hand-computed alignment term
    g_er, g_staer, g_align = _grads(er.loss, model), _grads(staer.loss, model), _grads(alignment, model)
    assert any(not torch.equal(a, b) for a, b in zip(g_er, g_staer))
    assert sum(float(g.abs().sum()) for g in g_align) > 0
    for a, b, c in zip(g_er, g_staer, g_align):
        torch.testing.assert_close(b - a, c, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("timesteps", [4, 3, 1])
def test_staer_stores_contracted_and_expanded_views(timesteps):
    """``z_{T/2}``: the first ``T/2`` frames (``⌊T/2⌋``, at least 1); ``z_{2T}``: the input played for ``2T``
    frames, whose first ``T`` frames are ``z_T`` (causal backbone)."""
    model = _net(seed=0, timesteps=timesteps)
    x, _ = _inputs(5, seed=3)
    plugin = STAERPlugin(ReservoirBuffer(8), config=STAERConfig())
    fields = plugin.record(SimpleNamespace(model=model), x, None)
    half = max(1, timesteps // 2)
    assert set(fields) == {"logits", "logits_half", "logits_double"}
    assert fields["logits"].shape == (5, timesteps, C)
    assert fields["logits_half"].shape == (5, half, C)
    assert fields["logits_double"].shape == (5, 2 * timesteps, C)
    with torch.no_grad():
        full = model(x, timesteps=timesteps).transpose(0, 1)
        double = model(x, timesteps=2 * timesteps).transpose(0, 1)
        half_run = model(x, timesteps=half).transpose(0, 1)
    assert full.abs().sum() > 0
    assert torch.equal(fields["logits"], full)
    assert torch.equal(fields["logits_half"], half_run)
    assert torch.equal(fields["logits_double"], double)
    # contraction = the first T/2 frames of the T run, expansion = the T run continued for T more frames (equal up
    # to BLAS rounding: the per-timestep layers see T*B rows at once)
    close = lambda a, b: torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)  # noqa: E731
    close(fields["logits_half"], full[:, :half])
    close(fields["logits_double"][:, :timesteps], full)
    assert (fields["logits_double"][:, timesteps:] - full).abs().max() > 1e-3     # not a copy of z_T
    # The ablation stores the T view only (one buffer, no unused fields).
    ablated = STAERPlugin(ReservoirBuffer(8), config=STAERConfig(expansion_contraction=False))
    assert set(ablated.record(SimpleNamespace(model=model), x, None)) == {"logits"}


def test_staer_ablation_switches_change_only_their_own_term():
    beta, a1, a2 = 0.5, 0.5, 0.25                  # beta large and alpha1 != alpha2: every term visible on its own
    er_loss = _er_loss(_net(seed=0), *_inputs(B, seed=2))
    full_loss, full, state, _ = _staer_loss(STAERConfig(beta=beta, alpha1=a1, alpha2=a2))
    d_t, d_half, d_double = _staer_terms(_net(seed=0), full.buffer, state)
    assert min(d_t, d_half, d_double) > 1e-3 and not torch.allclose(d_half, d_double)
    torch.testing.assert_close(full_loss - er_loss, beta * (d_t + a1 * d_half + a2 * d_double) / (1 + a1 + a2))
    # expansion/contraction off: the T-vs-T term alone, unweighted; the ER part unchanged
    ec_loss, _, ec_state, _ = _staer_loss(STAERConfig(beta=beta, alpha1=a1, alpha2=a2, expansion_contraction=False))
    assert torch.equal(ec_state, state)
    torch.testing.assert_close(ec_loss - er_loss, beta * d_t)
    # the same as alpha1 = alpha2 = 0: the T/2 and 2T terms are what was dropped, nothing else
    zero_loss, *_ = _staer_loss(STAERConfig(beta=beta, alpha1=0.0, alpha2=0.0))
    torch.testing.assert_close(zero_loss, ec_loss)
    # alignment off: exactly the ER loss (same tensor) and no buffer draw, so a run stays identical to ER's
    off_loss, off, off_state, off_strategy = _staer_loss(STAERConfig(beta=beta, alpha1=a1, alpha2=a2,
                                                                     alignment=False))
    assert off_loss is off_strategy.loss_before and torch.equal(off_loss, er_loss)
    assert torch.equal(off.buffer.generator.get_state(), off_state)
    assert off.last_alignment == 0.0
    # each alpha weighs its own term only
    only_half, *_ = _staer_loss(STAERConfig(beta=beta, alpha1=a1, alpha2=0.0))
    only_double, *_ = _staer_loss(STAERConfig(beta=beta, alpha1=0.0, alpha2=a2))
    torch.testing.assert_close(only_half - er_loss, beta * (d_t + a1 * d_half) / (1 + a1))
    torch.testing.assert_close(only_double - er_loss, beta * (d_t + a2 * d_double) / (1 + a2))



def test_staer_logit_replay_adds_derpp_mse_on_the_same_replayed_batch():
    beta, la = 0.5, 0.3
    er_loss = _er_loss(_net(seed=0), *_inputs(B, seed=2))
    plain, _, state, _ = _staer_loss(STAERConfig(beta=beta))
    with_logits, plugin, state_l, _ = _staer_loss(STAERConfig(beta=beta, logit_alpha=la))
    assert torch.equal(state, state_l)
    (index,) = _replay_index(state, len(plugin.buffer), B)
    current = _net(seed=0)(plugin.buffer.data["x"][index]).transpose(0, 1)
    mse = ((current - plugin.buffer.data["logits"][index]) ** 2).mean()
    assert mse > 1e-3
    torch.testing.assert_close(with_logits - plain, la * mse)
    # alignment off: the logit term alone on top of ER
    only, *_ = _staer_loss(STAERConfig(beta=beta, logit_alpha=la, alignment=False))
    torch.testing.assert_close(only - er_loss, la * mse)
    with pytest.raises(ValueError, match="staer_logit_alpha"):
        ContinualConfig(staer_logit_alpha=-1.0)
    assert "-logits0.3-" in ContinualConfig(strategy="staer", staer_logit_alpha=0.3).label

def test_derpp_logit_and_buffer_terms_equal_a_hand_computation():
    alpha, beta = 0.3, 0.7
    model = _net(seed=0)
    x, y = _inputs(B, seed=2)
    xb, yb = _inputs(8, seed=1)
    stored = _views(_net(seed=7), xb)["logits"]                     # logits stored at insertion, [n, T, C]
    buffer = ReservoirBuffer(8, seed=0)
    buffer.add(x=xb, y=yb, record=lambda kept: {"logits": stored[kept]})
    plugin = DERPPPlugin(buffer, minibatch_size=4, alpha=alpha, beta=beta)
    strategy = _strategy(model, x, y)
    er_loss = _er_loss(model, x, y)
    state = buffer.generator.get_state()
    first, second = _replay_index(state, 8, 4, draws=2)
    plugin.before_backward(strategy)
    # alpha * MSE(current per-timestep logits, stored ones) on the first draw
    current = model(xb[first]).transpose(0, 1)
    mse = ((current - stored[first]) ** 2).sum() / current.numel()
    # beta * CE of the time-averaged logits against the stored labels on the second draw
    log_p = torch.log_softmax(model(xb[second]).mean(0), dim=1)
    ce = -log_p[torch.arange(4), yb[second]].mean()
    assert mse > 1e-3 and ce > 1e-3
    torch.testing.assert_close(strategy.loss - er_loss, alpha * mse + beta * ce)
    # and the logit term alone, with the CE term switched off
    plugin_mse = DERPPPlugin(buffer, minibatch_size=4, alpha=alpha, beta=0.0)
    buffer.generator.set_state(state)                             # the same two draws again
    only = _strategy(model, x, y)
    plugin_mse.before_backward(only)
    torch.testing.assert_close(only.loss - er_loss, alpha * mse)


def test_derpp_stores_the_training_logits_of_the_kept_rows():
    model = _net(seed=0)
    x, y = _inputs(B, seed=2)
    buffer = ReservoirBuffer(8, seed=0)
    buffer.add(x=torch.zeros(16, 5, dtype=torch.float64), y=torch.zeros(16, dtype=torch.long),
               logits=torch.zeros(16, T, C, dtype=torch.float64))       # full, 16 seen: only some rows are kept
    twin = ReservoirBuffer(8, seed=0)
    twin.load_state_dict(buffer.state_dict())
    kept, slots = twin.reservoir_slots(B)
    assert 0 < len(kept) < B
    plugin = DERPPPlugin(buffer, minibatch_size=None, alpha=0.5, beta=0.5)
    seq = model(x)
    strategy = SimpleNamespace(model=model, mb_x=x, mb_y=y, mb_output_seq=seq)
    plugin.before_forward(strategy)
    plugin.after_training_iteration(strategy)
    assert torch.equal(buffer.data["logits"][slots], seq[:, kept].detach().transpose(0, 1))   # z' at insertion
    assert torch.equal(buffer.data["x"][slots], x[kept]) and torch.equal(buffer.data["y"][slots], y[kept])


def test_resume_after_simulated_crash_gives_identical_results(tmp_path):
    config = ContinualConfig(strategy="staer", seed=3, **{**QUICK, "n_experiences": 5, "epochs": 1})
    with pytest.raises(_Crash):
        run_continual(config, run_dir=tmp_path / "killed", progress=False, after_experience=_crash_after(1))
    resumed_log = []
    resumed = run_continual(config, run_dir=tmp_path / "killed", progress=False,
                            after_experience=lambda i, s: resumed_log.append(i))
    assert resumed_log == [2, 3, 4]  # only the experiences after the checkpoint were trained again
    straight = run_continual(config, run_dir=tmp_path / "straight", progress=False)
    assert resumed["class_il_matrix"] == straight["class_il_matrix"]
    assert resumed["task_il_matrix"] == straight["task_il_matrix"]


def test_checkpoint_of_another_version_or_config_is_refused(tmp_path):
    from snnrl.io import save_versioned

    config = ContinualConfig(strategy="er", seed=0, **QUICK)
    save_versioned(tmp_path / "checkpoint.pt", kind="snnrl-continual-checkpoint", version=0, payload={})
    with pytest.raises(ArtifactError, match="format version 0"):
        run_continual(config, run_dir=tmp_path, progress=False)
    run_continual(config, run_dir=tmp_path / "a", progress=False, max_experiences=1)
    other = ContinualConfig(strategy="er", seed=1, **QUICK)
    with pytest.raises(ArtifactError, match="another configuration"):
        run_continual(other, run_dir=tmp_path / "a", progress=False)


def test_backbone_returning_batch_logits_is_refused():
    class Flat(torch.nn.Module):
        timesteps = 4

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x, timesteps=None):
            return self.fc(x.flatten(1))  # [B, C]: wrong

    with pytest.raises(ValueError, match=r"per-timestep logits \[T, B, C\].*looks like \[B, C\]"):
        check_sequence_logits(Flat()(torch.zeros(3, 1, 8, 8)), 3)
    from snnrl.continual.benchmarks import class_incremental

    bench = class_incremental("digits", n_experiences=5, seed=0, train_per_class=5, test_per_class=2)
    strategy, _ = make_strategy("er", Flat(), evaluator=None)
    with pytest.raises(ValueError, match=r"\[T, B, C\]"):
        strategy.train(bench.train_stream[0])


def test_bad_settings():
    with pytest.raises(ValueError, match="buffer_size must be >= 1"):
        ContinualConfig(strategy="er", buffer_size=0)
    with pytest.raises(ValueError, match="Unknown strategy"):
        ContinualConfig(strategy="ewc")
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1"):
        ContinualConfig(timesteps=0)
    assert STAERConfig().beta == 1e-4 and STAERConfig().alpha1 == 0.5


def test_ahsar_state_is_checkpointed_and_resumes_identically(tmp_path):
    from snnrl.io import load_versioned

    config = ContinualConfig(strategy="er", seed=2, ahsar=True, **{**QUICK, "n_experiences": 5, "epochs": 2})
    assert config.label == "er-b100-ahsar-s2"
    with pytest.raises(_Crash):
        run_continual(config, run_dir=tmp_path / "killed", progress=False, after_experience=_crash_after(0))
    saved = load_versioned(tmp_path / "killed" / "checkpoint.pt", kind="snnrl-continual-checkpoint", version=1)
    assert saved["ahsar"] is not None and len(saved["ahsar"]["base"]) >= 1
    resumed = run_continual(config, run_dir=tmp_path / "killed", progress=False, max_experiences=3)
    straight = run_continual(config, run_dir=tmp_path / "straight", progress=False, max_experiences=3)
    assert resumed["class_il_matrix"] == straight["class_il_matrix"]
    plain = run_continual(ContinualConfig(strategy="er", seed=2, **{**QUICK, "n_experiences": 5, "epochs": 2}),
                          progress=False, max_experiences=3)
    assert plain["class_il_matrix"] != straight["class_il_matrix"]  # the regulator did change training


@pytest.mark.parametrize("plugin", ["staer", "derpp"])
def test_spiking_plugins_work_inside_a_stock_avalanche_naive(plugin):
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    from snnrl.continual.backbones import TimeAveraged
    from snnrl.continual.benchmarks import class_incremental

    bench = class_incremental("digits", n_experiences=2, seed=0, train_per_class=20, test_per_class=5)
    torch.manual_seed(0)
    model = TimeAveraged(make_backbone("mlp", (1, 8, 8), 10, timesteps=4))
    buffer = ReservoirBuffer(30, seed=0)
    made = (STAERPlugin(buffer, config=STAERConfig(beta=0.1)) if plugin == "staer"
            else DERPPPlugin(buffer, minibatch_size=None, alpha=0.5, beta=0.5))
    strategy = Naive(model=model, optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3), train_mb_size=10,
                     train_epochs=1, eval_mb_size=64, plugins=[made],
                     evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]))
    for experience in bench.train_stream:
        strategy.train(experience)
    assert len(buffer) == 30 and "logits" in buffer.data                 # filled with the stored trajectories
    assert buffer.data["logits"].shape[1:] == (4, 10)
    if plugin == "staer":
        assert made.last_alignment > 0 and {"logits_half", "logits_double"} <= set(buffer.data)
    accuracy = strategy.eval(bench.test_stream)
    assert 0 < next(v for k, v in accuracy.items() if k.startswith("Top1_Acc_Stream")) <= 1


def test_run_continual_takes_the_users_avalanche_loggers(tmp_path):
    from avalanche.logging import TextLogger

    log = tmp_path / "log.txt"
    with open(log, "w") as handle:
        run_continual(ContinualConfig(benchmark="split-digits", strategy="er", buffer_size=20, n_experiences=2,
                                      train_per_class=10, test_per_class=5), progress=False,
                      max_experiences=1, loggers=[TextLogger(handle)])
    assert "Top1_Acc_Stream" in log.read_text()


def test_avalanche_ann_baselines_are_measured_like_a_spiking_run():
    from snnrl.continual.ann_baselines import AnnBaselineConfig, run_ann_baseline
    from snnrl.sweeps.continual import aggregate_runs

    small = dict(benchmark="split-digits", n_experiences=2, train_per_class=30, test_per_class=10)
    naive = run_ann_baseline(AnnBaselineConfig(strategy="naive", **small))
    der = run_ann_baseline(AnnBaselineConfig(strategy="der", buffer_size=40, **small))
    assert np.array(naive["class_il_matrix"]).shape == (2, 2)
    assert naive["class_il_matrix"][1][0] < 0.2                           # a plain ANN forgets the first classes
    assert der["class_il_matrix"][1][0] > naive["class_il_matrix"][1][0]  # DER's replay keeps some
    assert aggregate_runs([naive])["class_il_accuracy"]["mean"] == naive["class_il_accuracy"]
    with pytest.raises(ValueError, match="Unknown ANN strategy"):
        AnnBaselineConfig(strategy="ewc")


def test_optimizer_choice_sgd_is_constant_rate_adamw_restarts_a_cosine():
    from snnrl.continual.strategies import CosineRestartPlugin

    model = make_backbone("mlp", (1, 8, 8), 10, timesteps=2)
    sgd, _ = make_strategy("er", model, lr=0.1, optimizer="sgd")
    adamw, _ = make_strategy("er", model, lr=3e-3)
    assert type(sgd.optimizer) is torch.optim.SGD and sgd.optimizer.param_groups[0]["lr"] == 0.1
    assert not any(isinstance(p, CosineRestartPlugin) for p in sgd.plugins)
    assert type(adamw.optimizer) is torch.optim.AdamW
    assert any(isinstance(p, CosineRestartPlugin) for p in adamw.plugins)
    cosine, _ = make_strategy("er", model, lr=0.1, optimizer="sgd-cosine")
    assert type(cosine.optimizer) is torch.optim.SGD
    assert any(isinstance(p, CosineRestartPlugin) for p in cosine.plugins)
    with pytest.raises(ValueError, match="Unknown optimizer 'adam'"):
        make_strategy("er", model, optimizer="adam")
    with pytest.raises(ValueError, match="Unknown optimizer"):
        ContinualConfig(optimizer="adam")
    assert ContinualConfig(optimizer="sgd", validation=0.1).label == "staer-b200-sgd-val-s0"


def test_forgetting_and_bwt_agree_with_avalanches_own_metrics_on_the_same_run():
    from avalanche.logging import BaseLogger

    class LastStreamValues(BaseLogger):
        def __init__(self) -> None:
            super().__init__()
            self.values: dict[str, float] = {}

        def log_single_metric(self, name, value, x_plot) -> None:
            self.values[name] = float(value) if isinstance(value, (int, float)) else value

    collector = LastStreamValues()
    r = run_continual(ContinualConfig(benchmark="split-digits", strategy="er", buffer_size=20, n_experiences=5,
                                      train_per_class=30, test_per_class=10), progress=False, loggers=[collector])
    a = np.array(r["class_il_matrix"])
    diagonal_drop = float(np.mean([a[j, j] - a[-1, j] for j in range(len(a) - 1)]))
    avalanche_bwt = collector.values["StreamBWT/eval_phase/test_stream"]
    avalanche_forgetting = collector.values["StreamForgetting/eval_phase/test_stream"]
    assert avalanche_bwt == pytest.approx(r["class_il_bwt"], abs=1e-9)
    # Avalanche's forgetting is A[j, j] - A[N-1, j] (= -BWT); ours takes the max over earlier rows (Chaudhry).
    assert avalanche_forgetting == pytest.approx(diagonal_drop, abs=1e-9)
    assert r["class_il_forgetting"] >= avalanche_forgetting - 1e-9


@pytest.mark.parametrize("plugin", ["er", "derpp", "staer"])
def test_class_balanced_buffer_is_refilled_after_each_experience_with_the_trained_models_logits(plugin):
    from avalanche.core import SupervisedPlugin
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    from snnrl.continual.backbones import TimeAveraged
    from snnrl.continual.benchmarks import class_incremental
    from snnrl.continual.buffer import ClassBalancedBuffer
    from snnrl.continual.strategies import sequence_logits

    bench = class_incremental("digits", n_experiences=2, seed=0, train_per_class=20, test_per_class=5)
    torch.manual_seed(0)
    model = TimeAveraged(make_backbone("mlp", (1, 8, 8), 10, timesteps=4))
    buffer = ClassBalancedBuffer(30, seed=0)
    made = {"er": lambda: ERPlugin(buffer, minibatch_size=None),
            "derpp": lambda: DERPPPlugin(buffer, minibatch_size=None, alpha=0.5, beta=0.5),
            "staer": lambda: STAERPlugin(buffer, config=STAERConfig(beta=0.1))}[plugin]()
    replayed = []

    class Spy(SupervisedPlugin):                                    # sees every training batch
        def after_forward(self, strategy, **kwargs):
            replayed.append(len(strategy.mb_x))

    strategy = Naive(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.05), train_mb_size=10,
                     train_epochs=1, eval_mb_size=64, plugins=[made, Spy()], evaluator=EvaluationPlugin(loggers=[]))
    for index, experience in enumerate(bench.train_stream):
        strategy.train(experience)
        classes = sorted(int(c) for c in experience.classes_in_this_experience)
        if index == 0:
            # nothing was replayed while the first experience trained; after it the buffer holds its 5 classes,
            # 30 // 5 = 6 rows each
            assert set(replayed) == {10}
            first = {k: v.clone() for k, v in buffer.data.items()}
            counts = torch.bincount(buffer.data["y"], minlength=10)
            assert sorted(buffer.data["y"].unique().tolist()) == classes and set(counts[classes].tolist()) == {6}
        else:
            # ER and STAER replay within the batch (DER++ in separate forwards): 10 replayed per batch
            assert max(replayed) == (10 if plugin == "derpp" else 20)
            counts = torch.bincount(buffer.data["y"], minlength=10)
            assert counts.sum() == 30 and set(counts[counts > 0].tolist()) == {3}   # 10 classes, 3 slots each
            assert set(buffer.data["y"][:15].tolist()) == set(first["y"].tolist())   # old classes first
            # an old class keeps the first of its earlier rows (a uniform subset), its fields untouched
            for c in buffer.data["y"][:15].unique():
                kept, before = buffer.data["x"][buffer.data["y"] == c], first["x"][first["y"] == c][:3]
                assert torch.equal(kept, before)
        if plugin != "er":            # the logits stored for the new classes are the trained model's
            new = torch.isin(buffer.data["y"], torch.tensor(classes))
            with torch.no_grad():
                expected = sequence_logits(model, buffer.data["x"][new]).transpose(0, 1)
            assert torch.allclose(buffer.data["logits"][new], expected, atol=1e-6)
    state = buffer.state_dict()
    twin = ClassBalancedBuffer(30, seed=5)
    twin.load_state_dict(state)
    assert twin.classes == buffer.classes and all(torch.equal(twin.data[k], v) for k, v in buffer.data.items())
    assert torch.equal(twin.sample(7)["x"], buffer.sample(7)["x"])
    with pytest.raises(ValueError, match="reservoir buffer's state does not fit"):
        twin.load_state_dict(ReservoirBuffer(30).state_dict())


def test_class_balanced_runs_resume_identically_and_name_their_rule(tmp_path):
    config = ContinualConfig(strategy="derpp", seed=1, buffer_update="class-balanced",
                             **{**QUICK, "n_experiences": 5, "epochs": 1})
    assert config.label == "derpp-b100-cb-s1"
    with pytest.raises(_Crash):
        run_continual(config, run_dir=tmp_path / "killed", progress=False, after_experience=_crash_after(1))
    resumed = run_continual(config, run_dir=tmp_path / "killed", progress=False)
    straight = run_continual(config, run_dir=tmp_path / "straight", progress=False)
    assert resumed["class_il_matrix"] == straight["class_il_matrix"]
    reservoir = run_continual(replace(config, buffer_update="reservoir"), run_dir=tmp_path / "r", progress=False)
    assert reservoir["class_il_matrix"] != straight["class_il_matrix"]      # the rule changes the run
    with pytest.raises(ValueError, match="Unknown buffer update 'fifo'"):
        ContinualConfig(buffer_update="fifo")


@pytest.mark.parametrize("strategy", ["derpp", "staer"])
def test_a_diverging_run_stops_with_a_clear_error(strategy):
    from snnrl.continual.strategies import TrainingDiverged
    from snnrl.sweeps.continual import ContinualTask, run_continual_task_or_diverged

    config = ContinualConfig(strategy=strategy, seed=0, **{**QUICK, "neuron": "relu", "optimizer": "sgd",
                                                           "lr": 1e30})
    with pytest.raises(TrainingDiverged, match=r"not finite at experience \d+, iteration \d+ \(lr 1e\+30\)"):
        run_continual(config, progress=False, max_experiences=2)
    scored = run_continual_task_or_diverged(ContinualTask(config))     # a tuning rule scores it instead
    assert scored["diverged"] and scored["class_il_accuracy"] == 0.0 and "lower the learning rate" in scored["error"]
    fine = run_continual_task_or_diverged(ContinualTask(replace(config, lr=3e-3)))
    assert "diverged" not in fine and fine["class_il_accuracy"] > 0.1          # above chance (10 classes)


def test_a_checkpoint_ignores_only_the_fields_another_strategy_reads():
    from dataclasses import asdict

    from snnrl.continual.experiment import _same_config

    er = ContinualConfig(strategy="er", staer_beta=0.1)
    stored = {k: v for k, v in asdict(er).items() if k != "staer_logit_alpha"}     # saved before the field existed
    assert _same_config(stored, er)
    assert _same_config(stored, replace(er, staer_logit_alpha=0.5))              # ER never reads it
    assert not _same_config(stored, replace(er, staer_beta=0.3))                 # older fields are still compared
    staer = replace(er, strategy="staer")
    stored_staer = {**stored, "strategy": "staer"}
    assert _same_config(stored_staer, staer)
    assert not _same_config(stored_staer, replace(staer, staer_logit_alpha=0.5))  # STAER does
