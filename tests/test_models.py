import pytest
import torch
from torch import nn

from actsearch.activations import Activation, build_activation, kernels
from actsearch.training.config import TrainConfig
from actsearch.training.models import MODELS, build_model
from actsearch.training.trainer import train
from tests.conftest import write_cifar_folder

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


def test_compiled_noise_is_gaussian_fresh_and_seeded():
    sigma = 0.3
    m = build_activation({"name": "n_relu", "sigma": sigma}).train()
    x = -torch.rand(200_000)
    kernels.set_compile(True)
    try:
        torch.manual_seed(7)
        a, b = m(x), m(x)
        torch.manual_seed(7)
        again = m(x)
    finally:
        kernels.set_compile(False)
    assert torch.equal(a, again)  # the seed fixes the noise
    assert not torch.equal(a, b)  # every call draws afresh
    z = a / sigma
    assert abs(z.mean().item()) < 0.01 and z.std().item() == pytest.approx(1.0, abs=0.01)
    assert (z**4).mean().item() == pytest.approx(3.0, abs=0.05)  # Gaussian kurtosis
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.01
