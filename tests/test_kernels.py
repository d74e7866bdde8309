"""The fused kernels as users meet them: compile modes, users' torch.compile, export, noise, edges."""

import math

import pytest
import torch
import yaml
from torch import nn

from actsearch.activations import build_activation, kernels, load_activation, set_compile
from actsearch.activations.family import EPS_MAX, SIGMA_MAX, T_RANGE
from actsearch.activations.latency import relative_latency
from actsearch.errors import ConfigError

MEMBERS = {
    "r_relu": {"name": "r_relu", "alpha": 0.3, "T": 0.8},
    "sr_relu": {"name": "sr_relu", "eta": 0.7, "T": 1.1},
    "n_relu": {"name": "n_relu", "sigma": 0.2},
    "crrelu": {"name": "crrelu", "eps": 0.2},
    "bounded_negative": {"name": "bounded_negative", "shape": "cubic", "sigma": 0.05, "eps": 0.01},
}
DETERMINISTIC = ["r_relu", "sr_relu", "crrelu"]


def mlp(config):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), build_activation(config), nn.Linear(32, 4))


# --- compile mode is per module --------------------------------------------------------------


def test_default_mode_compiles_only_large_calls(monkeypatch):
    monkeypatch.setattr(kernels, "COMPILE_MIN_ELEMENTS", 1000)
    m = build_activation("r_relu")
    assert m.compile_mode is None
    small = m(torch.randn(999, requires_grad=True))
    large = m(torch.randn(1000, requires_grad=True))
    # The eager body keeps the float input, the compiled one a region code of 1 byte per
    # element (four to an int32 word).
    assert [t.dtype for t in small.grad_fn.saved_tensors if t.numel() == 999] == [torch.float32]
    assert [(t.dtype, t.numel()) for t in large.grad_fn.saved_tensors if t.numel() in (250, 1000)] \
        == [(torch.int32, 250)]


def test_set_compile_sets_one_model_only():
    a, b = mlp("r_relu"), mlp("sr_relu")
    set_compile(a, True)
    assert a[1].compile_mode is True and b[1].compile_mode is None
    set_compile(a, False)
    assert a[1].compile_mode is False
    with pytest.raises(TypeError, match="set_compile"):
        set_compile(True, a)
    with pytest.raises(TypeError, match="True, False or None"):
        a[1].set_compile("yes")


def test_train_with_compile_leaves_later_activations_alone():
    """Bug 7 of issue 12: train() used to flip a process-wide switch and never restore it."""
    from actsearch.training.config import TrainConfig
    from actsearch.training.trainer import train

    seen = []
    real = kernels.set_compile

    def spy(model, enabled):
        seen.append([m.compile_mode for m in model.modules() if hasattr(m, "compile_mode")])
        real(model, enabled)
        seen.append([m.compile_mode for m in model.modules() if hasattr(m, "compile_mode")])

    mp = pytest.MonkeyPatch()
    mp.setattr(kernels, "set_compile", spy)
    try:
        r = train(TrainConfig(task="digits", budget="tiny", threads=1, epochs=1, compile=True,
                              activation={"name": "r_relu"}))
    finally:
        mp.undo()
    assert r.status == "ok"
    assert seen and all(mode is True for mode in seen[-1])  # the trained model did compile
    assert not hasattr(kernels, "_compile_enabled")  # no process-wide switch to leave set
    fresh = build_activation("r_relu")
    assert fresh.compile_mode is None
    y = fresh(torch.randn(100, requires_grad=True))
    assert [t.dtype for t in y.grad_fn.saved_tensors if t.numel() == 100] == [torch.float32]  # eager



def test_fused_kernels_leave_users_inductor_settings_alone():
    """The FMA contraction is an option of actsearch's compiled functions, not a config flip."""
    from torch._inductor import config as inductor_config

    before = inductor_config.cpp.enable_floating_point_contract_flag
    m = build_activation({"name": "crrelu"})
    m.set_compile(True)
    m(torch.randn(64, requires_grad=True)).sum().backward()
    assert inductor_config.cpp.enable_floating_point_contract_flag == before
# --- a user's torch.compile, export and tracing -------------------------------------------------


@pytest.mark.parametrize("member", MEMBERS)
def test_no_graph_break_in_users_compiled_model(member):
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(mlp(MEMBERS[member]))(torch.randn(8, 16))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("member", ["r_relu", "crrelu", "bounded_negative"])
def test_users_compiled_model_runs_the_fused_kernel_with_the_same_gradients(member):
    net = mlp(MEMBERS[member])
    set_compile(net, True)  # the custom op then calls the compiled kernel inside the user's graph
    compiled = torch.compile(net, backend="aot_eager")
    x = torch.randn(8, 16)
    torch.manual_seed(1)
    y1 = compiled(x)
    y1.sum().backward()
    g1 = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    torch.manual_seed(1)
    y2 = net(x)
    y2.sum().backward()
    torch.testing.assert_close(y1, y2)
    for a, b in zip(g1, [p.grad for p in net.parameters()]):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("member", MEMBERS)
def test_eval_mode_export_and_trace_match(member):
    net = mlp(MEMBERS[member]).eval()
    x = torch.randn(8, 16)
    expected = net(x)
    exported = torch.export.export(net, (x,))
    assert not [n for n in exported.graph.nodes if "actsearch" in str(n.target)]  # plain ATen
    torch.testing.assert_close(exported.module()(x), expected)
    traced = torch.jit.trace(net, (x,))
    torch.testing.assert_close(traced(x), expected)


@pytest.mark.parametrize("member", MEMBERS)
def test_eval_mode_onnx_export_runs_in_onnxruntime(member):
    """ONNX, where the user has it: the exported graph runs without actsearch or torch."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")  # torch.onnx.export's exporter
    net = mlp(MEMBERS[member]).eval()
    x = torch.randn(8, 16)
    expected = net(x).detach().numpy()
    program = torch.onnx.export(net, (x,), dynamo=True, verbose=False)
    session = ort.InferenceSession(program.model_proto.SerializeToString())
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert abs(out - expected).max() < 1e-5


# --- the counter-based normal generator -----------------------------------------------------------


def ks_distance_to_normal(z: torch.Tensor) -> float:
    z = z.double().sort().values
    n = len(z)
    cdf = 0.5 * (1.0 + torch.special.erf(z / math.sqrt(2.0)))
    above = torch.arange(1, n + 1, dtype=torch.float64) / n - cdf
    below = cdf - torch.arange(n, dtype=torch.float64) / n
    return max(above.max().item(), below.max().item())


@pytest.mark.parametrize("key", [(0, 0), (12345, 1), (-(2**31), 2**31 - 1), (7, -(2**31))])
def test_hash_normal_is_standard_normal(key):
    z = kernels.hash_normal(torch.empty(1_000_000), torch.tensor(key, dtype=torch.int32))
    assert torch.isfinite(z).all()
    assert abs(z.mean().item()) < 0.005  # 5 standard errors
    assert z.var().item() == pytest.approx(1.0, abs=0.007)  # sd of the variance: 0.0014
    assert (z**4).mean().item() == pytest.approx(3.0, abs=0.05)  # Gaussian kurtosis
    # Kolmogorov-Smirnov: the 1% critical value for n = 10^6 is 1.63 / sqrt(n).
    assert ks_distance_to_normal(z) < 1.63e-3
    assert (z == 0).sum().item() == 0  # the sum's centre is a half-integer: no point mass at 0


def test_sum_to_normal_is_normal_over_every_atom():
    """The transform exactly, not a sample: all 12280 sums with their probabilities."""
    twelve = torch.ones(4096, dtype=torch.float64)
    ten = torch.zeros(4 * 1023 + 1, dtype=torch.float64)
    ten[::4] = 1.0  # 10 bits scaled by 4
    pmf = twelve
    for part in (ten, ten):  # convolution: the pmf of the sum
        pmf = torch.nn.functional.conv1d(pmf.view(1, 1, -1), part.flip(0).view(1, 1, -1),
                                         padding=len(part) - 1).view(-1)
    pmf = pmf / pmf.sum()
    z = kernels.sum_to_normal(torch.arange(len(pmf), dtype=torch.int32)).double()
    assert len(pmf) == 12280 and (z.diff() > 0).all()  # monotone: a quantile map
    cdf = torch.cumsum(pmf, 0)
    normal = 0.5 * (1.0 + torch.special.erf(z / math.sqrt(2.0)))
    ks = max((cdf - normal).abs().max().item(), (cdf - pmf - normal).abs().max().item())
    assert ks < 4e-4
    assert (pmf * z).sum().item() == pytest.approx(0.0, abs=1e-6)
    assert (pmf * z**2).sum().item() == pytest.approx(1.0, abs=1e-4)
    assert (pmf * z**4).sum().item() == pytest.approx(3.0, abs=2e-3)
    assert 4.7 < z.max().item() < 4.75


def test_hash_normal_keys_give_independent_streams():
    like = torch.empty(200_000)
    a = kernels.hash_normal(like, torch.tensor((1, 12345), dtype=torch.int32))
    b = kernels.hash_normal(like, torch.tensor((2, 777), dtype=torch.int32))
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.01
    # Not a shifted copy of the other key's stream (as hash(index + key) would be).
    for d in range(64):
        assert (a[d : d + 1000] == b[:1000]).sum().item() < 3
        assert (b[d : d + 1000] == a[:1000]).sum().item() < 3


def test_compiled_noise_is_gaussian_fresh_and_seeded():
    sigma = 0.3
    m = build_activation({"name": "n_relu", "sigma": sigma}).train()
    m.set_compile(True)
    x = -torch.rand(1_000_000)
    torch.manual_seed(7)
    a, b = m(x), m(x)
    torch.manual_seed(7)
    again = m(x)
    assert torch.equal(a, again)  # the seed fixes the noise
    assert not torch.equal(a, b)  # every call draws afresh
    z = a / sigma
    assert abs(z.mean().item()) < 0.005 and z.var().item() == pytest.approx(1.0, abs=0.007)
    assert ks_distance_to_normal(z) < 1.63e-3
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.01
    pos = torch.rand(1000) + 0.01
    assert torch.equal(m(pos), pos)  # no noise where x > 0


SAVES_X = {"name": "bounded_negative", "shape": "zero", "sigma": 1.0, "eps": 0.1}


@pytest.mark.parametrize("config, size", [
    ({"name": "n_relu", "sigma": 1.0}, 10_000),  # the region code, x in quarters
    (SAVES_X, 10_000),  # x saved, still in quarters
    (SAVES_X, 10_001),  # x saved, whole (a size no multiple of 4)
], ids=["code-quarters", "x-quarters", "x-whole"])
def test_compiled_noise_matches_the_eager_generator(config, size):
    """Element i gets counter i whether the kernel walks x whole or in four quarters."""
    m = build_activation(config).train()
    m.set_compile(True)
    x = -20 - torch.rand(size)  # where the correction term is exactly 0 in float32
    torch.manual_seed(3)
    y = m(x)
    torch.manual_seed(3)
    key = kernels._new_key(x.device)
    torch.testing.assert_close(y, kernels.hash_normal(x, key), rtol=1e-5, atol=1e-5)


# --- numerically safe parameter ranges, and the kernels at their edges ------------------------------


@pytest.mark.parametrize(
    "config, fragments",
    [
        ({"name": "sr_relu", "T": 1.0e-300}, ["'T' = 1e-300", "out of range", "T in [0.001, 1e+09]"]),
        ({"name": "r_relu", "T": 1.0e300}, ["'T' = 1e+300", "T in [0.001, 1e+09]"]),
        ({"name": "n_relu", "sigma": 1.0e300}, ["'sigma' = 1e+300", "sigma in [0, 10]"]),
        ({"name": "bounded_negative", "sigma_end": 11.0}, ["'sigma_end' = 11.0", "sigma_end in [0, 10]"]),
        ({"name": "crrelu", "eps": -1.0e300}, ["'eps' = -1e+300", "eps in [-10, 10]"]),
        ({"name": "bounded_negative", "eps": float("nan")}, ["'eps' = nan", "not finite"]),
        ({"name": "sr_relu", "T": float("inf")}, ["'T' = inf", "not finite"]),
    ],
)
def test_unsafe_parameters_are_one_config_error(config, fragments):
    with pytest.raises(ConfigError) as info:
        build_activation(config)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_tiny_T_in_an_activation_file_is_a_config_error(tmp_path):
    path = tmp_path / "best.yaml"
    path.write_text("activation: {name: sr_relu, T: 1.0e-300}\n")
    with pytest.raises(ConfigError, match=r"'T' = 1e-300 is out of range; allowed: T in \[0.001, 1e\+09\]"):
        load_activation(path)


EDGES = [
    {"shape": "cubic", "T": T_RANGE[0], "eta": 1.0},
    {"shape": "cubic", "T": T_RANGE[0], "eta": 0.0},
    {"shape": "cubic", "T": T_RANGE[1], "eta": 1.0},
    {"shape": "linear", "T": T_RANGE[0], "alpha": 1.0},
    {"shape": "linear", "T": T_RANGE[1], "alpha": 0.0},
    {"shape": "zero", "eps": EPS_MAX, "eps_learnable": True},
    {"shape": "cubic", "T": T_RANGE[0], "eta": 1.0, "eps": -EPS_MAX},
]
EXTREME_X = [-3.0e38, -1.0e30, -1e4, -1.0, -1.0e-3, -5e-4, -1e-30, 0.0, 1e-30, 1e-3, 1.0, 1e4, 1.0e30, 3.0e38]


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
@pytest.mark.parametrize("compiled", [False, True])
def test_kernels_finite_at_range_edges(edge, compiled):
    config = {"name": "bounded_negative", "sigma": SIGMA_MAX, **edge}
    # Compiled: float32 without noise only. Half types run the same float32 math plus a cast,
    # compiled noise at the edge has its own test below, and each extra compiled variant costs
    # seconds of warm-up.
    for dtype in (torch.float32,) if compiled else (torch.float32, torch.bfloat16):
        m = build_activation(config).to(dtype).train(not compiled)
        m.set_compile(compiled)
        x = torch.tensor(EXTREME_X, dtype=dtype).requires_grad_()
        y = m(x)
        y.backward(torch.ones_like(y))
        assert torch.isfinite(y).all() and torch.isfinite(x.grad).all(), (dtype, y, x.grad)
        if edge.get("eps_learnable"):
            assert torch.isfinite(m.eps.grad).all()


def test_compiled_noise_finite_at_the_largest_sigma():
    m = build_activation({"name": "n_relu", "sigma": SIGMA_MAX}).train()
    m.set_compile(True)
    x = torch.tensor(EXTREME_X * 100).requires_grad_()
    y = m(x)
    y.backward(torch.ones_like(y))
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert y[x.detach() <= 0].abs().max() <= SIGMA_MAX * 4.75  # the generator's |z| <= 4.74


def test_compiled_correction_term_matches_float64_and_vanishes_far_out():
    """float32's own exp in the compiled CRReLU: close to float64 everywhere, exactly 0 past 6.5."""
    x64 = torch.cat([torch.linspace(-14, 14, 280_001, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])
    m = build_activation({"name": "crrelu", "eps": 0.9})
    eps = m.eps.item()
    m.set_compile(True)
    x = x64.float().requires_grad_()
    y = m(x)
    y.backward(torch.ones_like(y))
    xd = x.detach().double()  # the float32 inputs, exactly
    gauss = torch.exp(-0.5 * xd * xd)
    corr = y.detach().double() - xd.clamp(min=0)
    torch.testing.assert_close(corr, eps * xd * gauss, rtol=0, atol=3e-7)
    relu_slope = (xd > 0).double()  # 0 at x = 0, as ReLU's
    torch.testing.assert_close(x.grad.double(), relu_slope + eps * gauss * (1 - xd * xd), rtol=0, atol=2e-6)
    far = xd.abs() > 6.6
    assert (corr[far] == 0).all() and (x.grad.double()[far] == relu_slope[far]).all()


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
@pytest.mark.parametrize("compiled", [False, True])
def test_gradcheck_at_range_edges(edge, compiled):
    m = build_activation({"name": "bounded_negative", **edge}).double()
    T = m._scalars[1]
    # Points on every piece, away from the kinks at 0 and -T where finite differences straddle.
    # Inner points scale with T up to 4: beyond, finite differences of 1e-6 on x ~ T lose the
    # slope in float64 rounding.
    s = min(T, 4.0)
    x = torch.tensor([-2 * T, -0.75 * s, -0.5 * s, -0.25 * s, 0.5, 2.0, -3.0, -50.0], dtype=torch.float64)
    x = x[((x + T).abs() > 1e-4 * T) & (x.abs() > 1e-6)].clone().requires_grad_()
    inputs = (x, m._params, m.eps, m._sigma, m.shape, m.use_eps, False, m._scalars, compiled)
    assert torch.autograd.gradcheck(kernels.BoundedNegativeFunction.apply, inputs)


@pytest.mark.parametrize("config", [
    {"name": "bounded_negative", "shape": "cubic", "T": 1.1, "eta": 0.7, "eps": 0.2},  # keeps x
    {"name": "r_relu", "alpha": 0.3, "T": 1.1},  # the packed region code, compiled
], ids=["cubic-eps", "linear"])
@pytest.mark.parametrize("compiled", [False, True])
def test_bfloat16_close_to_float64(compiled, config):
    x = torch.randn(4096, dtype=torch.float64) * 2
    x = x[((x + 1.1).abs() > 1e-2) & (x.abs() > 1e-2)]  # no bf16 rounding across a region edge
    x = x[: x.numel() // 4 * 4]  # a size the packed code takes
    xr = x.clone().requires_grad_()
    ref = build_activation(config).double()(xr)
    (ref_grad,) = torch.autograd.grad(ref, xr, torch.ones_like(ref))
    m = build_activation(config).to(torch.bfloat16)
    m.set_compile(compiled)
    xb = x.to(torch.bfloat16).requires_grad_()
    y = m(xb)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.double(), ref.detach(), rtol=2e-2, atol=2e-2)
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(xb.grad.double(), ref_grad, rtol=2e-2, atol=2e-2)


# --- the latency objective's measurement ---------------------------------------------------------


@pytest.mark.parametrize("member", MEMBERS)
def test_relative_latency_is_a_finite_positive_float(member):
    ratio = relative_latency(MEMBERS[member], (64, 256), rounds=3)
    assert isinstance(ratio, float) and math.isfinite(ratio) and ratio > 0


def test_relative_latency_bad_input():
    with pytest.raises(ConfigError, match="rounds"):
        relative_latency("r_relu", (64, 256), rounds=0)
    with pytest.raises(ConfigError, match="shape"):
        relative_latency("r_relu", (64, -1))
    with pytest.raises(ConfigError, match="unknown activation"):
        relative_latency("nope", (64, 256))


def test_relative_latency_of_relu_is_about_one_and_leaves_no_state():
    assert relative_latency("relu", (64, 256), rounds=5) > 0
    fresh = build_activation("r_relu")
    assert fresh.compile_mode is None


def test_eval_exports_in_yaml_round_trip_still_work(tmp_path):
    """A file written by export rebuilds a module that runs the fused kernel by default."""
    path = tmp_path / "best.yaml"
    path.write_text(yaml.safe_dump({"activation": MEMBERS["sr_relu"]}))
    m = load_activation(path)
    assert m.compile_mode is None and kernels.wants_compile(None, torch.empty(kernels.COMPILE_MIN_ELEMENTS))
