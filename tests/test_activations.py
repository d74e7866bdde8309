import math

import pytest
import torch
import yaml

import actsearch
from actsearch.activations import ACTIVATIONS, build_activation, load_activation, scheduled
from actsearch.activations import kernels
from actsearch.activations import reference as ref


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


def value_and_grad(module, x):
    x = x.clone().requires_grad_()
    y = module(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), g


# --- exact values at hand-computed points -------------------------------------------------


def test_r_relu_values_and_slopes():
    m = build_activation({"name": "r_relu", "alpha": 0.5, "T": 1.0}).double()
    x = f64([-2.0, -1.0, -0.5, 0.0, 0.7, 3.0])
    y, g = value_and_grad(m, x)
    assert y.tolist() == [0.0, -0.5, -0.25, 0.0, 0.7, 3.0]
    assert g.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0, 1.0]


def test_sr_relu_values():
    eta, T = 0.5, 1.25
    m = build_activation({"name": "sr_relu", "eta": eta, "T": T}).double()
    x = f64([-2.0, -1.0, -0.5, 0.5])
    y, _ = value_and_grad(m, x)
    # p(x) = x + (1.5 / 1.25) x^2 + (0.5 / 1.5625) x^3
    expected = [0.0, -1.0 + 1.2 - 0.32, -0.5 + 1.2 * 0.25 - 0.32 * 0.125, 0.5]
    assert y.tolist() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("eta", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("T", [0.5, 1.25, 2.0])
def test_sr_relu_boundary_conditions(eta, T):
    m = build_activation({"name": "sr_relu", "eta": eta, "T": T}).double()
    # f(-T) = 0 and f(0) = 0; f'(0) = 1 from the cubic side too.
    y, _ = value_and_grad(m, f64([-T, 0.0]))
    assert y.tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    _, g_left = value_and_grad(m, f64([-1e-9]))
    assert g_left.item() == pytest.approx(1.0, abs=1e-6)
    _, g_at_minus_T = value_and_grad(m, f64([-T]))
    # p'(-T) = eta - 1: zero (C1 everywhere) exactly when eta = 1.
    assert g_at_minus_T.item() == pytest.approx(eta - 1.0, abs=1e-9)


def test_crrelu_value_and_eps_gradient():
    # eps = 0.125 is exact in float32, the dtype the parameter is created in.
    m = build_activation({"name": "crrelu", "eps": 0.125}).double()
    x = f64([-1.0, 2.0])
    y = m(x)
    expected = [0.125 * -1.0 * math.exp(-0.5), 2.0 + 0.125 * 2.0 * math.exp(-2.0)]
    assert y.tolist() == pytest.approx(expected, abs=1e-12)
    y.sum().backward()
    assert m.eps.grad.item() == pytest.approx(-math.exp(-0.5) + 2.0 * math.exp(-2.0), abs=1e-9)


def test_crrelu_fixed_eps_is_not_a_parameter():
    m = build_activation({"name": "crrelu", "learnable": False})
    assert list(m.parameters()) == []
    assert isinstance(build_activation({"name": "crrelu"}).eps, torch.nn.Parameter)


def test_squareplus_default_b():
    m = build_activation("squareplus")
    assert m(torch.tensor([0.0])).item() == pytest.approx(1.0)  # (0 + sqrt(4)) / 2


# --- the fused kernels agree with the seeds' naive code ------------------------------------


@pytest.mark.parametrize(
    "config, naive",
    [
        ({"name": "r_relu", "alpha": 0.3, "T": 0.8}, lambda x: ref.r_relu(x, 0.3, 0.8)),
        ({"name": "sr_relu", "eta": 0.7, "T": 1.1}, lambda x: ref.sr_relu(x, 0.7, 1.1)),
        ({"name": "crrelu", "eps": 0.2, "learnable": False}, lambda x: ref.crrelu(x, 0.2)),
    ],
)
def test_fused_matches_naive_values_and_gradients(config, naive):
    torch.manual_seed(0)
    x = torch.randn(4096, dtype=torch.float64) * 2
    y, g = value_and_grad(build_activation(config).double(), x)
    y_ref, g_ref = value_and_grad(naive, x)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-12)


def test_n_relu_matches_seed_code_with_the_same_noise():
    torch.manual_seed(0)
    x = torch.randn(10_000)
    m = build_activation({"name": "n_relu", "sigma": 0.2}).train()
    torch.manual_seed(1)
    y = m(x)
    torch.manual_seed(1)
    noise = torch.randn_like(x)
    torch.testing.assert_close(y, ref.n_relu(x, 0.2, noise))


# --- gradcheck every custom Function variant -----------------------------------------------


@pytest.mark.parametrize("shape", kernels.SHAPES)
@pytest.mark.parametrize("eps_mode", ["none", "fixed", "learnable"])
def test_gradcheck_every_kernel_variant(shape, eps_mode):
    torch.manual_seed(0)
    m = build_activation(
        {
            "name": "bounded_negative",
            "shape": shape,
            "alpha": 0.4,
            "T": 1.3,
            "eta": 0.6,
            "eps": 0.0 if eps_mode == "none" else 0.3,
            "eps_learnable": eps_mode == "learnable",
        }
    ).double()
    # Keep away from the kinks (x = 0, x = -T), where finite differences straddle two pieces.
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    x = x[(x.abs() > 0.02) & ((x + 1.3).abs() > 0.02)].clone().requires_grad_()
    for compiled in (False, True):
        inputs = (x, m._params, m.eps, m._sigma, m.shape, m.use_eps, False, m._scalars, compiled)
        assert torch.autograd.gradcheck(kernels.BoundedNegativeFunction.apply, inputs)


def test_compiled_kernels_match_eager():
    torch.manual_seed(0)
    x = torch.randn(3000) * 2
    m = build_activation({"name": "bounded_negative", "shape": "cubic", "eps": 0.1, "eta": 0.3})
    m.set_compile(False)
    y_eager, g_eager = value_and_grad(m, x)
    m.set_compile(True)
    y_comp, g_comp = value_and_grad(m, x)
    torch.testing.assert_close(y_comp, y_eager)
    torch.testing.assert_close(g_comp, g_eager)


def test_region_code_saved_instead_of_input():
    """Compiled R-ReLU keeps one byte per element for backward, not the 4-byte float input."""
    x = torch.randn(10, 100, requires_grad=True)
    m = build_activation("r_relu")
    m.set_compile(True)
    y = m(x)
    saved = [t for t in y.grad_fn.saved_tensors if t.numel() in (250, 1000)]
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.int32, 250)]  # four codes per word


@pytest.mark.parametrize("config", [{"name": "r_relu"}, {"name": "n_relu", "sigma": 0.1}], ids=["r_relu", "n_relu"])
@pytest.mark.parametrize("size", [(4, 250), (7, 143), (3,), (0, 8)])
def test_region_code_gives_the_eager_gradient_at_any_size(config, size):
    """Four elements share a code word; a size that is no multiple of 4 keeps x instead."""
    x = torch.randn(size) * 2
    g_out = torch.randn(size)
    m = build_activation(config).eval()  # eval: no noise, so eager == compiled
    results = []
    for compiled in (False, True):
        m.set_compile(compiled)
        xr = x.clone().requires_grad_()
        y = m(xr)
        if compiled and x.numel():
            kept = [t.dtype for t in y.grad_fn.saved_tensors if t.numel() in (x.numel(), x.numel() // 4)]
            assert kept == ([torch.int32] if x.numel() % 4 == 0 else [torch.float32])
        (dense,) = torch.autograd.grad(y, xr, g_out, retain_graph=True)
        (expanded,) = torch.autograd.grad(y.sum(), xr)
        results.append((y.detach(), dense, expanded))
    for eager, fused in zip(*results):
        torch.testing.assert_close(fused, eager)


# --- the unified family contains every named member ----------------------------------------


@pytest.mark.parametrize(
    "named, unified",
    [
        ({"name": "r_relu", "alpha": 0.3, "T": 0.9}, {"shape": "linear", "alpha": 0.3, "T": 0.9}),
        ({"name": "sr_relu", "eta": 0.8, "T": 1.4}, {"shape": "cubic", "eta": 0.8, "T": 1.4}),
        ({"name": "crrelu", "eps": 0.05}, {"shape": "zero", "eps": 0.05, "eps_learnable": True}),
        ({"name": "relu"}, {"shape": "zero"}),
        ({"name": "leaky_relu", "negative_slope": 0.2}, {"shape": "linear", "alpha": 0.2, "T": 1e9}),
    ],
)
def test_family_special_cases_equal_named(named, unified):
    torch.manual_seed(0)
    x = torch.randn(5000, dtype=torch.float64) * 3
    y1, g1 = value_and_grad(build_activation(named).double(), x)
    y2, g2 = value_and_grad(build_activation({"name": "bounded_negative", **unified}).double(), x)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)


def test_family_n_relu_point_has_identical_noise():
    x = torch.randn(5000)
    named = build_activation({"name": "n_relu", "sigma": 0.1, "sigma_schedule": "cosine"})
    unified = build_activation(
        {"name": "bounded_negative", "shape": "zero", "sigma": 0.1, "sigma_schedule": "cosine"}
    )
    for m in (named, unified):
        m.set_progress(0.3)
    torch.manual_seed(5)
    y1, g1 = value_and_grad(named, x)
    torch.manual_seed(5)
    y2, g2 = value_and_grad(unified, x)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)


# --- stochastic behaviour ------------------------------------------------------------------


def test_n_relu_statistics():
    torch.manual_seed(0)
    sigma = 0.2
    m = build_activation({"name": "n_relu", "sigma": sigma}).train()
    x = torch.cat([torch.full((200_000,), -1.0), torch.linspace(0.01, 5, 1000)])
    y = m(x)
    neg = y[:200_000]
    assert abs(neg.mean().item()) < 0.005
    assert neg.std().item() == pytest.approx(sigma, rel=0.02)
    assert torch.equal(y[200_000:], x[200_000:])  # identity on the positive side


def test_eval_mode_is_deterministic_and_exactly_relu():
    m = build_activation({"name": "bounded_negative", "shape": "zero", "sigma": 0.5}).eval()
    x = torch.randn(1000)
    assert torch.equal(m(x), m(x))
    assert torch.equal(m(x), torch.relu(x))


@pytest.mark.parametrize(
    "schedule, values",
    [
        ("constant", [0.2, 0.2, 0.2]),
        ("cosine", [0.2, 0.11, 0.02]),  # 0.02 + 0.18 * (1 + cos(pi p)) / 2
        ("linear", [0.2, 0.11, 0.02]),
    ],
)
def test_schedule_values(schedule, values):
    got = [scheduled(0.2, 0.02, schedule, p) for p in (0.0, 0.5, 1.0)]
    assert got == pytest.approx(values)


def test_set_progress_anneals_noise_away():
    m = build_activation({"name": "n_relu", "sigma": 0.2, "sigma_schedule": "cosine"}).train()
    m.set_progress(1.0)
    x = -torch.rand(1000)
    assert torch.equal(m(x), torch.zeros_like(x))  # sigma_t = 0: no noise drawn
    m.set_progress(0.0)
    assert m(x).abs().sum() > 0


def test_every_activation_has_set_progress_and_trains():
    for name in ACTIVATIONS:
        m = build_activation(name)
        m.set_progress(0.5)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), m, torch.nn.Linear(8, 2))
        net(torch.randn(3, 4)).sum().backward()
        assert net[0].weight.grad is not None, name


# --- configs, YAML and bad input -----------------------------------------------------------


def test_config_round_trip_through_yaml(tmp_path):
    config = {"name": "sr_relu", "eta": 0.25, "T": 1.5}
    m = build_activation(config)
    path = tmp_path / "best.yaml"
    path.write_text(yaml.safe_dump({"activation": m.config(), "objectives": {"accuracy": 0.9}}))
    loaded = actsearch.load_activation(path)
    assert type(loaded) is type(m) and loaded.config() == m.config()
    x = torch.randn(100)
    assert torch.equal(loaded(x), m(x))


@pytest.mark.parametrize(
    "config, fragments",
    [
        ({"name": "r_relu", "T": 0.0}, ["'T'", "0.0", "T in [0.001, 1e+09]"]),
        ({"name": "r_relu", "T": -1}, ["'T'", "-1", "T in [0.001, 1e+09]"]),
        ({"name": "r_relu", "alpha": 1.5}, ["'alpha'", "1.5", "alpha in [0, 1]"]),
        ({"name": "sr_relu", "eta": -0.1}, ["'eta'", "-0.1", "eta in [0, 1]"]),
        ({"name": "n_relu", "sigma": -0.1}, ["'sigma'", "-0.1", "sigma in [0, 10]"]),
        ({"name": "r_relu", "alpha": "big"}, ["'alpha'", "'big'", "wrong type"]),
        ({"name": "r_relu", "alpha": True}, ["'alpha'", "True", "wrong type"]),
        ({"name": "r_relu", "beta": 1.0}, ["unknown parameter 'beta'", "alpha, T"]),
        ({"name": "nope"}, ["unknown activation 'nope'", "r_relu"]),
        ({"name": "bounded_negative", "shape": "quartic"}, ["'shape'", "zero, linear, cubic"]),
        ({"name": "n_relu", "sigma_schedule": "step"}, ["'sigma_schedule'", "cosine"]),
        ({"alpha": 0.5}, ["no 'name' key"]),
    ],
)
def test_bad_configs_raise_value_error_naming_key_value_range(config, fragments):
    with pytest.raises(ValueError) as info:
        build_activation(config)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_load_activation_bad_files(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("activation: {name: r_relu\n")
    with pytest.raises(ValueError, match="invalid YAML"):
        load_activation(bad_yaml)
    no_mapping = tmp_path / "none.yaml"
    no_mapping.write_text("name: r_relu\n")
    with pytest.raises(ValueError, match="no 'activation:' mapping"):
        load_activation(no_mapping)
    out_of_range = tmp_path / "range.yaml"
    out_of_range.write_text("activation: {name: r_relu, T: -2}\n")
    with pytest.raises(ValueError, match=r"range\.yaml.*'T' = -2"):
        load_activation(out_of_range)
    with pytest.raises(ValueError, match="does not exist"):
        load_activation(tmp_path / "missing.yaml")
