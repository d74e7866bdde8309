import pytest
import torch
from torch import nn

from actsearch.activations import Activation, build_activation
from actsearch.errors import ConfigError
from actsearch.training.config import TrainConfig
from actsearch.training.models import MODELS, build_model
from actsearch.training.trainer import train
from tests.conftest import write_cifar_folder, write_mnist_folder

BUILTIN_ACTIVATIONS = (nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.LeakyReLU, nn.ELU)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_activation_site_uses_the_candidate(name, shape):
    made = []

    def factory():
        made.append(build_activation({"name": "sr_relu", "eta": 0.3}))
        return made[-1]

    model = build_model(name, shape, 10, factory, width=0.25)
    sites = [m for m in model.modules() if isinstance(m, Activation)]
    assert sites and len(sites) == len(made)
    assert not [m for m in model.modules() if isinstance(m, BUILTIN_ACTIVATIONS)]
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_cifar_training_with_augmentation_and_resnet(tmp_path):
    write_cifar_folder(tmp_path / "cifar-10-batches-py", n=40)
    r = train(TrainConfig(task="cifar10", model="resnet", data_dir=str(tmp_path), budget="tiny", epochs=1,
                          threads=1, compile=False, activation={"name": "r_relu"}))
    assert r.status == "ok" and len(r.curve) == 1 and r.config["model"] == "resnet"


def relu():
    return build_activation({"name": "relu"})


def sites(model):
    return [m for m in model.modules() if isinstance(m, Activation)]


def test_default_mlp_and_cnn_are_the_seed_models():
    mlp = build_model("mlp", (1, 28, 28), 10, relu)
    assert [(m.in_features, m.out_features) for m in mlp if isinstance(m, nn.Linear)] == [
        (784, 256), (256, 128), (128, 10)]
    cnn = build_model("cnn", (1, 28, 28), 10, relu)
    assert [(m.in_channels, m.out_channels) for m in cnn if isinstance(m, nn.Conv2d)] == [(1, 32), (32, 64)]
    assert [(m.in_features, m.out_features) for m in cnn if isinstance(m, nn.Linear)] == [
        (64 * 14 * 14, 128), (128, 10)]
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
    assert not [m for m in [*mlp.modules(), *cnn.modules()] if isinstance(m, norms)]


@pytest.mark.parametrize("depth", [1, 3, 10])
def test_mlp_depth_is_the_number_of_hidden_layers(depth):
    model = build_model("mlp", (1, 28, 28), 10, relu, width=1.0, depth=depth)
    hidden = [m.out_features for m in model if isinstance(m, nn.Linear)][:-1]
    assert hidden == [256] + [128] * (depth - 1)
    assert len(sites(model)) == depth
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("depth", [1, 2, 5, 8])
def test_cnn_depth_is_the_number_of_conv_layers_and_fits_small_images(depth, shape):
    model = build_model("cnn", shape, 10, relu, width=0.25, depth=depth)
    assert len([m for m in model if isinstance(m, nn.Conv2d)]) == depth
    assert len(sites(model)) == depth + 1  # and the hidden fully connected layer
    assert model(torch.randn(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("norm, kinds", [("batch", (nn.BatchNorm1d, nn.BatchNorm2d)),
                                         ("layer", (nn.LayerNorm, nn.GroupNorm))])
def test_norm_goes_before_every_activation_site(name, norm, kinds):
    model = build_model(name, (1, 28, 28), 10, relu, width=0.25, depth=4, norm=norm)
    layers = list(model)
    for i, layer in enumerate(layers):
        if isinstance(layer, Activation):
            assert isinstance(layers[i - 1], kinds)
    assert len([m for m in layers if isinstance(m, kinds)]) == len(sites(model))
    model(torch.randn(4, 1, 28, 28)).sum().backward()


def test_vit_runs_on_fashion_mnist_shapes_with_patch_4():
    model = build_model("vit", (1, 28, 28), 10, relu, width=0.25, depth=2)
    assert model.embed.kernel_size == (4, 4) and model.pos.shape[1] == 7 * 7 + 1
    assert len(model.blocks) == 2 and len(sites(model)) == 2
    model(torch.randn(2, 1, 28, 28)).sum().backward()


def test_vit_trains_on_an_mnist_format_task(tmp_path):
    write_mnist_folder(tmp_path / "fashion-mnist")
    r = train(TrainConfig(task="fashion-mnist", model="vit", depth=1, data_dir=str(tmp_path), budget="tiny",
                          epochs=1, threads=1, compile=False))
    assert r.status == "ok" and r.config["model"] == "vit" and r.config["depth"] == 1


def test_depth_and_norm_reach_the_trained_model_and_its_record():
    r = train(TrainConfig(task="digits", depth=5, norm="batch", budget="tiny", epochs=1, threads=1, compile=False))
    assert r.status == "ok" and (r.config["depth"], r.config["norm"]) == (5, "batch")
    default = train(TrainConfig(task="digits", budget="tiny", epochs=1, threads=1, compile=False))
    assert r.model_flops > default.model_flops


@pytest.mark.parametrize("model, depth, norm, message", [
    ("mlp", 0, None, "--depth must be >= 1"),
    ("cnn", -2, None, "--depth must be >= 1"),
    ("mlp", None, "foo", "unknown norm 'foo'"),
    ("mlp", None, "batchnorm", "did you mean 'batch'"),
    ("resnet", 21, None, r"6n\+2"),
    ("resnet", None, "layer", "always uses batch norm"),
    ("vit", None, "none", "always uses layer norm"),
])
def test_bad_depth_or_norm_is_a_config_error(model, depth, norm, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(model=model, depth=depth, norm=norm).resolved()
    with pytest.raises(ConfigError, match=message):
        build_model(model, (1, 28, 28), 10, relu, depth=depth, norm=norm)


def test_a_resolved_config_keeps_the_model_default_depth_open_for_another_model():
    # compare trains one resolved config under several models.
    cfg = TrainConfig(model="mlp").resolved()
    assert cfg.depth is None and cfg.norm is None
    TrainConfig(**{**cfg.to_dict(), "model": "resnet"}).resolved()
