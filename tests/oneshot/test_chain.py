"""Chain supernets (macro-cnn for ENAS, mnasnet for SPOS): a path computes exactly what the
standalone model computes with the path's weights copied in, and a path touches only its own
modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbeyond.exceptions import ConfigError, SpaceError
from nasbeyond.oneshot import make_supernet
from nasbeyond.oneshot.chain import MacroSupernet, MnasNetSupernet
from nasbeyond.space import make_space
from nasbeyond.trial import TaskShape

TASK = TaskShape((1, 12, 12), 4)


SPACES = {
    "macro-cnn": ({"max_layers": 4, "min_layers": 0}, MacroSupernet),
    "mnasnet": ({"blocks": 3, "width_mult": 0.25}, MnasNetSupernet),
}


def _trained(name: str, seed: int = 0):
    """A supernet whose weights and BatchNorm statistics moved away from their initial values
    (a few SGD steps on random paths), so that copying the wrong slice would show."""
    torch.manual_seed(seed)
    args, _ = SPACES[name]
    space = make_space(name, args)
    net = make_supernet(space, TASK)
    rng = np.random.default_rng(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(16, *TASK.input_shape), torch.randint(0, 4, (16,))
    for _ in range(4):
        loss = torch.nn.functional.cross_entropy(net(x, space.sample(rng)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return space, net, rng


@pytest.mark.parametrize("name", sorted(SPACES))
def test_path_output_equals_standalone_model(name):
    space, net, rng = _trained(name)
    assert isinstance(net, SPACES[name][1])
    x = torch.randn(5, *TASK.input_shape)
    archs = [space.sample(rng) for _ in range(10)]
    if name == "macro-cnn":
        archs.append({"layers": []})  # min_layers=0: the classifier reads the image
        archs.append(
            {
                "layers": [
                    {"kh": 1, "kw": 7, "filters": 24, "stride": 2, "skips": []},
                    {"kh": 3, "kw": 3, "filters": 64, "stride": 1, "skips": []},
                    {"kh": 5, "kw": 1, "filters": 36, "stride": 2, "skips": [0]},
                    {"kh": 7, "kw": 5, "filters": 48, "stride": 1, "skips": [1, 0]},
                ]
            }
        )
    net.eval()
    for arch in archs:
        model = net.path_model(arch).eval()
        assert type(model) is type(space.build(arch, TASK))
        torch.testing.assert_close(net(x, arch), model(x), rtol=1e-4, atol=1e-5)
    # training mode too (batch statistics), and both update their running statistics alike
    net.train()
    arch = archs[0]
    model = net.path_model(arch).train()
    torch.testing.assert_close(net(x, arch), model(x), rtol=1e-4, atol=1e-5)
    net.eval(), model.eval()
    torch.testing.assert_close(net(x, arch), model(x), rtol=1e-4, atol=1e-5)


def _path_modules(name, arch):
    """Name prefixes of the supernet modules a path may use."""
    if name == "macro-cnn":
        mods = [f"layers.{i}.{ly['kh']}x{ly['kw']}." for i, ly in enumerate(arch["layers"])]
        return [*mods, "head_", "flat_head."]
    from nasbeyond.oneshot.chain import _choice_key
    from nasbeyond.space.mnasnet import BASE

    mods = ["stem.", "head.", "classifier."]
    for b, (block, (_, layers, _)) in enumerate(zip(arch["blocks"], BASE, strict=False)):
        key = _choice_key(block["op"], block["kernel"], block["se"])
        mods += [f"blocks.{b}.{i}.{key}." for i in range(max(1, layers + block["layers"]))]
    return mods


@pytest.mark.parametrize("name", sorted(SPACES))
def test_a_path_trains_only_its_own_weights(name):
    space, net, rng = _trained(name, seed=1)
    for _ in range(3):
        arch = space.sample(rng)
        before = {k: p.detach().clone() for k, p in net.named_parameters()}
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        opt.zero_grad(set_to_none=True)
        net(torch.randn(8, *TASK.input_shape), arch).square().mean().backward()
        opt.step()
        changed = {k for k, p in net.named_parameters() if not torch.equal(p, before[k])}
        prefixes = _path_modules(name, arch)
        assert changed  # the path learned
        assert all(k.startswith(tuple(prefixes)) for k in changed), changed
        assert len(changed) < len(before)  # every other choice kept its weights


def test_sliced_batchnorm_updates_only_the_path_channels():
    space, net, _ = _trained("macro-cnn")
    arch = {"layers": [{"kh": 3, "kw": 3, "filters": 24, "stride": 1, "skips": []}]}
    bn = net.layers[0]["3x3"].bn
    mean = bn.running_mean.clone()
    net.train()
    net(torch.randn(8, *TASK.input_shape) + 3.0, arch)
    assert not torch.equal(bn.running_mean[:24], mean[:24])
    assert torch.equal(bn.running_mean[24:], mean[24:])


def test_bad_calls_are_one_line_errors():
    space, net, _ = _trained("macro-cnn")
    with pytest.raises(ConfigError, match="a path"):
        net(torch.randn(2, *TASK.input_shape))
    with pytest.raises(SpaceError, match="filters"):
        net(
            torch.randn(2, *TASK.input_shape),
            {"layers": [{"kh": 3, "kw": 3, "filters": 5, "stride": 1, "skips": []}]},
        )
    with pytest.raises(SpaceError, match="not an image"):
        make_supernet(make_space("mnasnet", {"blocks": 1}), TaskShape((20,), 3))
