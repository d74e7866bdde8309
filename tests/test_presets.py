import pytest
from torch import nn
from typer.testing import CliRunner

from actsearch.choices import PRESETS as PRESET_NAMES
from actsearch.cli import app
from actsearch.errors import ConfigError
from actsearch.results import read_results
from actsearch.training.config import TrainConfig
from actsearch.analysis.headroom import headroom
from actsearch.training.models import build_model
from actsearch.training.presets import PRESETS, apply_preset, get_preset
from tests.conftest import write_mnist_folder


def invoke(*args):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def fashion(tmp_path):
    """A tiny Fashion-MNIST in the real format, so preset runs take a second."""
    write_mnist_folder(tmp_path / "data" / "fashion-mnist")
    return str(tmp_path / "data")


def test_the_cli_names_every_preset_of_the_registry():
    assert tuple(PRESETS) == PRESET_NAMES


def test_deep_mlp_is_the_issue_setting():
    cfg = apply_preset("deep-mlp", TrainConfig()).resolved()
    assert (cfg.task, cfg.model, cfg.depth, cfg.norm) == ("fashion-mnist", "mlp", 10, "none")
    assert (cfg.train_subset, cfg.test_subset, cfg.epochs, cfg.batch_size) == (20000, None, 8, 128)
    assert (cfg.optimizer, cfg.lr) == ("adam", 1e-3)
    model = build_model(cfg.model, (1, 28, 28), 10, nn.ReLU, cfg.width, depth=cfg.depth, norm=cfg.norm)
    hidden = [m.out_features for m in model if isinstance(m, nn.Linear)][:-1]
    assert hidden == [256] + [128] * 9


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_resolves(name):
    apply_preset(name, TrainConfig()).resolved()


def test_options_the_user_gave_win_over_the_preset():
    cfg = apply_preset("deep-mlp", TrainConfig(epochs=2, depth=4), explicit=["epochs", "depth"])
    assert (cfg.epochs, cfg.depth, cfg.train_subset) == (2, 4, 20000)


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'deep-mlp'"):
        get_preset("deep-mpl")


def test_train_with_a_preset_and_overrides(fashion, tmp_path):
    run = tmp_path / "run"
    result = invoke("train", "--preset", "deep-mlp", "--data-dir", fashion, "--epochs", "1", "--depth", "3",
                    "--threads", "1", "--no-compile", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    (record,), _ = read_results(run)
    config = record["train_config"]
    assert (config["task"], config["model"], config["norm"]) == ("fashion-mnist", "mlp", "none")  # the preset's
    assert (config["epochs"], config["depth"]) == (1, 3)  # given on the command line


def test_a_given_task_wins_over_the_preset(tmp_path):
    run = tmp_path / "run"
    result = invoke("train", "--preset", "deep-mlp", "--task", "digits", "--epochs", "1", "--threads", "1",
                    "--no-compile", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    (record,), _ = read_results(run)
    assert record["train_config"]["task"] == "digits" and record["train_config"]["depth"] == 10


@pytest.mark.parametrize("args, message", [
    (["--depth", "0"], "--depth must be >= 1"),
    (["--norm", "foo"], "unknown norm 'foo'"),
    (["--preset", "deep-mpl"], "unknown preset 'deep-mpl' (did you mean 'deep-mlp'?)"),
    (["--model", "vit", "--norm", "batch"], "does not apply to vit"),
])
@pytest.mark.parametrize("command", ["train", "compare", "tune", "evolve"])
def test_bad_depth_norm_or_preset_is_one_error_line(command, args, message, tmp_path):
    extra = ["--activations", "relu"] if command == "compare" else []
    result = invoke(command, *args, *extra, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.output.startswith("error:") and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_compare_with_a_preset_does_not_train_an_activation_twice(fashion, tmp_path):
    run = tmp_path / "cmp"
    result = invoke("compare", "--preset", "deep-mlp", "--activations", "relu,gelu,silu", "--data-dir", fashion,
                    "--seeds", "1", "--epochs", "1", "--depth", "2", "--threads", "1", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    records, _ = read_results(run)
    assert sorted(r["label"] for r in records) == ["gelu", "relu", "silu"]
    assert {r["train_config"]["depth"] for r in records} == {2}


def test_compare_models_option_narrows_the_nrelu_preset(fashion, tmp_path):
    run = tmp_path / "cmp"
    result = invoke("compare", "--preset", "nrelu", "--models", "mlp", "--data-dir", fashion, "--task",
                    "fashion-mnist", "--seeds", "1", "--epochs", "1", "--threads", "1", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    records, _ = read_results(run)
    assert {r["model"] for r in records} == {"mlp"} and len(records) == len(PRESETS["nrelu"].activations)
    assert {r["train_config"]["budget"] for r in records} == {"full"}


# --- headroom ---------------------------------------------------------------------------------

def test_activations_further_apart_than_seed_noise_have_headroom():
    # The issue's deep MLP: ReLU 83.25 ± 1.68, GELU 84.62 ± 0.69 over 10 seeds.
    relu = [83.25 + d for d in (-2.1, 1.9, -1.5, 1.6, 0.2, -0.4, 2.3, -2.4, 0.9, -0.5)]
    gelu = [84.62 + d for d in (-0.9, 0.8, -0.6, 0.7, 0.1, -0.2, 1.0, -1.0, 0.4, -0.3)]
    h = headroom({"relu": relu, "gelu": gelu})
    assert h.has_headroom and h.best == "gelu" and h.worst == "relu"
    assert h.gap == pytest.approx(1.37) and h.gap > h.threshold
    assert "headroom" in h.summary() and "1.37" in h.summary()


def test_activations_within_seed_noise_have_no_headroom():
    # The seed MLP: every activation within half a point, seed spread about 0.3.
    h = headroom({"relu": [88.4, 88.1, 88.7], "gelu": [88.6, 88.2, 88.9], "silu": [88.3, 88.8, 88.5]})
    assert not h.has_headroom and h.verdict == "no headroom"
    assert h.gap < h.threshold and h.summary().startswith("no headroom")


def test_listing_more_activations_asks_for_a_larger_gap():
    two = headroom({"a": [80.0, 81.0, 82.0], "b": [83.0, 84.0, 85.0]})
    many = headroom({"a": [80.0, 81.0, 82.0], "b": [83.0, 84.0, 85.0], "c": [81.0, 82.0, 83.0],
                     "d": [81.5, 82.5, 83.5]})
    assert many.threshold > two.threshold


def test_a_collapsed_seed_is_reported_not_taken_for_noise():
    relu = [84.0, 83.6, 84.3, 67.84, 83.9, 84.1]
    gelu = [84.9, 85.1, 84.7, 85.0, 84.8, 85.2]
    h = headroom({"relu": relu, "gelu": gelu})
    assert h.collapsed == {"relu": [67.84], "gelu": []} and h.seeds["relu"] == 5
    assert h.has_headroom and "1 of 6 relu seeds collapsed (67.84)" in h.summary()


@pytest.mark.parametrize("accuracies, message", [
    ({"relu": [80.0, 81.0]}, "at least two activations"),
    ({"relu": [80.0, 81.0], "gelu": [82.0]}, "at least 2 seeds"),
])
def test_headroom_needs_two_activations_with_two_seeds(accuracies, message):
    with pytest.raises(ConfigError, match=message):
        headroom(accuracies)


def test_nrelu_preset_trains_on_every_training_image():
    """The N-ReLU seed's protocol has no validation split: compare reports the test split only."""
    from actsearch.training.config import TrainConfig
    from actsearch.training.presets import apply_preset

    cfg = apply_preset("nrelu", TrainConfig(task="fashion-mnist")).resolved()
    assert cfg.val_subset == 0 and cfg.train_subset is None and cfg.epochs == 8 and cfg.batch_size == 128
