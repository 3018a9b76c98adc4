import numpy as np
import pytest
import torch

from nasbeyond.exceptions import SpaceError
from nasbeyond.space import MacroCNNSpace, TaskShape


def layer(kh=3, kw=3, filters=24, stride=1, skips=()):
    return {"kh": kh, "kw": kw, "filters": filters, "stride": stride, "skips": list(skips)}


def test_skips_concatenate_resized_earlier_layers():
    space = MacroCNNSpace(max_layers=4)
    arch = {"layers": [layer(stride=2), layer(filters=36, stride=2), layer(filters=48, skips=[0])]}
    model = space.build(arch, TaskShape((3, 32, 32), 10))
    assert list(model.convs.values())[2][0].in_channels == 36 + 24
    # layers 1 and 0 feed others; only the last feeds the classifier
    assert model.outputs == [2]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_dangling_layers_feed_the_classifier():
    space = MacroCNNSpace()
    arch = {"layers": [layer(), layer(filters=36)]}
    model = space.build(arch, TaskShape((1, 9, 9), 5))
    assert model.outputs == [1] and model.head.in_features == 36


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 40), (1, 28, 28), (3, 224, 224)])
def test_builds_for_any_image_shape(shape):
    space = MacroCNNSpace(max_layers=3)
    arch = {"layers": [layer(7, 7, stride=2), layer(5, 1, stride=2), layer(skips=[0])]}
    assert space.build(arch, TaskShape(shape, 2))(torch.randn(2, *shape)).shape == (2, 2)


def test_flat_input_is_a_clear_error():
    with pytest.raises(SpaceError, match="not an image"):
        MacroCNNSpace().build({"layers": [layer()]}, TaskShape((10,), 2))


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ({"layers": []}, r"layers has 0 entries; allowed 1\.\.6"),
        ({"layers": [layer(kh=2)]}, r"layers\[0\]\.kh is 2; allowed: 1, 3, 5, 7"),
        ({"layers": [layer(filters=32)]}, r"layers\[0\]\.filters is 32; allowed: 24, 36, 48, 64"),
        ({"layers": [layer(stride=3)]}, r"layers\[0\]\.stride"),
        ({"layers": [layer(), layer(skips=[0])]}, r"layers\[1\]\.skips is \[0\]"),
        ({"layers": [layer(), layer(), layer(skips=[0, 0])]}, r"layers\[2\]\.skips"),
        ({"layers": [{**layer(), "color": 1}]}, r"unknown field 'color'"),
        ({"layers": [layer(kh=True)]}, r"kh is True"),
    ],
)
def test_validate_names_the_bad_field(arch, message):
    with pytest.raises(SpaceError, match=message):
        MacroCNNSpace().validate(arch)


def test_mutations_keep_skips_consistent_across_depth_changes():
    space = MacroCNNSpace(max_layers=6)
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    depths = set()
    for _ in range(400):
        arch = space.mutate(arch, rng)  # validate() inside mutate checks every skip index
        depths.add(len(arch["layers"]))
    assert depths == set(range(1, 7))


def test_decisions_include_one_binary_choice_per_possible_skip():
    space = MacroCNNSpace(max_layers=4)
    names = [d.name for d in space.decisions()]
    assert [n for n in names if ".skip" in n] == ["layer2.skip0", "layer3.skip0", "layer3.skip1"]
    choices = [len(d.choices) - 1 for d in space.decisions()]  # the last choice everywhere
    arch = space.from_choices(choices)
    assert len(arch["layers"]) == 4 and arch["layers"][3]["skips"] == [0, 1]
