import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from actsearch.training import trainer
from actsearch.activations import build_activation
from actsearch.cli import app
from actsearch.training.config import TrainConfig
from actsearch.training.data import DEBIAN_FASHION_MNIST
from actsearch.results import append_result, read_results
from actsearch.training.trainer import DeadUnitMeter, augment, train

TINY = dict(task="digits", budget="tiny", threads=1)


def test_same_seed_same_result():
    a = train(TrainConfig(**TINY, activation={"name": "n_relu", "sigma": 0.1}, seed=3))
    b = train(TrainConfig(**TINY, activation={"name": "n_relu", "sigma": 0.1}, seed=3))
    c = train(TrainConfig(**TINY, activation={"name": "n_relu", "sigma": 0.1}, seed=4))
    assert a.curve == b.curve and a.test_loss == b.test_loss
    assert (a.curve, a.test_loss) != (c.curve, c.test_loss)


def test_result_fields_and_learning():
    r = train(TrainConfig(task="digits", budget="full", activation={"name": "r_relu"}, threads=1))
    assert r.status == "ok" and len(r.curve) == 8
    assert r.test_acc > 90  # digits with the seed MLP learns well within 8 epochs
    assert r.epoch_to_90 == next(i + 1 for i, a in enumerate(r.curve) if a >= 90)
    # 64 -> 256 -> 128 -> 10: 2*(64*256 + 256*128 + 128*10) FLOPs; 384 activation elements
    assert r.model_flops == 2 * (64 * 256 + 256 * 128 + 128 * 10)
    assert r.activation_flops == 384 * 3  # r_relu: 2 compares + 1 multiply per element
    assert r.params == (64 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10)
    rec = r.record()
    for key in ("activation", "test_acc", "epoch_to_90", "flops", "params", "seed", "task", "model",
                "budget", "dead_ratio", "test_loss", "activation_flops", "time_s", "status"):
        assert key in rec
    assert rec["flops"] == r.model_flops + r.activation_flops


def test_absurd_learning_rate_diverges_without_raising():
    r = train(TrainConfig(**TINY, optimizer="sgd", lr=1e8))
    assert r.status == "diverged" and "epoch 1" in r.reason
    json.dumps(r.record(), allow_nan=False)  # still a valid results line


def test_set_progress_called_each_epoch(monkeypatch):
    seen = []
    real = trainer.set_progress

    def spy(model, p):
        seen.append(p)
        real(model, p)

    monkeypatch.setattr(trainer, "set_progress", spy)
    train(TrainConfig(**TINY, epochs=4))
    assert seen == [0.0, 0.25, 0.5, 0.75]


def test_callback_can_stop_training():
    calls = []

    def stop_after_first(epoch, acc):
        calls.append((epoch, acc))
        return True

    r = train(TrainConfig(**TINY, epochs=3), callback=stop_after_first)
    assert r.status == "pruned" and len(r.curve) == 1 and calls[0][0] == 1


def test_dead_ratio_hand_made():
    lin = nn.Linear(3, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([-1.0, -2.0, 0.5, 1.0]))  # two units never fire under ReLU
    model = nn.Sequential(lin, build_activation("relu"))
    meter = DeadUnitMeter(model)
    model(torch.randn(10, 3))
    assert meter.ratio() == 0.5


def test_augment_is_flip_and_crop_of_the_input():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out = augment(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape
    again = augment(x, torch.Generator().manual_seed(0), pad=2)
    assert torch.equal(out, again)
    # Every nonzero value comes from the same image (flipped or not).
    for i in range(2):
        assert set(out[i][out[i] != 0].tolist()) <= set(x[i].flatten().tolist())


def test_results_reader_skips_torn_line(tmp_path):
    append_result(tmp_path, {"activation": "relu", "test_acc": 90.0, "role": "train", "status": "ok", "seed": 0,
                             "activation_config": {"name": "relu"}})
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"activation": "gelu", "test_')  # a crash mid-write
    records, bad = read_results(tmp_path)
    assert [r["activation"] for r in records] == ["relu"] and bad == [2]


def test_train_command_end_to_end(tmp_path):
    result = CliRunner().invoke(app, [
        "train", "--task", "digits", "--activation", "sr_relu", "--set", "T=1.2", "--set", "eta=0.5",
        "--budget", "tiny", "--threads", "1", "--run-dir", str(tmp_path),
    ])
    assert result.exit_code == 0, result.output
    assert "sr_relu(eta=0.5, T=1.2)" in result.output and "test accuracy" in result.output
    (record,), _ = read_results(tmp_path)
    assert record["activation_config"] == {"name": "sr_relu", "eta": 0.5, "T": 1.2}


def test_train_command_from_exported_config(tmp_path):
    path = tmp_path / "best.yaml"
    path.write_text("activation: {name: r_relu, alpha: 0.25, T: 2}\n")
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--budget", "tiny", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "r_relu(alpha=0.25, T=2)" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "imagenet"], "unknown task 'imagenet'"),
        (["--activation", "r_relu", "--set", "alpha=2"], "'alpha' = 2"),
        (["--set", "novalue"], "is not KEY=VALUE"),
        (["--budget", "huge"], "unknown budget 'huge'"),
        (["--config", "missing.yaml"], "does not exist"),
    ],
)
def test_train_command_bad_input_is_one_line(args, message):
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_trains_on_real_fashion_mnist_subset():
    r = train(TrainConfig(task="fashion-mnist", budget="tiny", train_subset=3000, epochs=2, threads=2,
                          activation={"name": "bounded_negative", "shape": "cubic", "sigma": 0.05}))
    assert r.status == "ok" and r.test_acc > 70  # real Fashion-MNIST, 10 classes


def test_validation_split_is_fixed_stratified_and_never_trained_on():
    from actsearch.training.trainer import validation_split

    labels = torch.arange(1000) % 4  # four balanced classes
    val, rest = validation_split(labels, 100)
    assert len(val) == 100 and torch.bincount(labels[val]).tolist() == [25, 25, 25, 25]
    assert set(val.tolist()).isdisjoint(rest.tolist()) and len(val) + len(rest) == 1000
    assert torch.equal(validation_split(labels, 100)[0], val)  # the same images every call
    assert len(validation_split(labels, 10_000)[0]) == 200  # capped at a fifth of the data
    assert len(validation_split(labels, 0)[0]) == 0


def test_a_job_reports_validation_and_test_accuracy_apart():
    from actsearch.training.config import TrainConfig

    result = train(TrainConfig(task="digits", budget="tiny", threads=1))
    assert len(result.val_curve) == len(result.curve) == 2
    assert result.val_acc == result.val_curve[-1] and result.test_acc == result.curve[-1]
    none = train(TrainConfig(task="digits", budget="tiny", threads=1, val_subset=0))
    assert none.val_acc is None and none.val_curve == []


@pytest.mark.parametrize("depth, norm", [(None, None), (5, "batch")])
def test_costs_without_training_are_the_trained_models(depth, norm):
    """--max-cost and the latency objective read model_costs before a job trains: it must be the
    model the job trains, --depth and --norm included."""
    cfg = TrainConfig(task="digits", budget="tiny", epochs=1, threads=1, depth=depth, norm=norm,
                      activation={"name": "sr_relu"})
    trained = train(cfg)
    costs = trainer.model_costs(cfg)
    assert (costs.model_flops, costs.activation_flops, costs.params) == (
        trained.model_flops, trained.activation_flops, trained.params)
