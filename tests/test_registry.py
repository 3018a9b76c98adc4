import pytest

from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import KINDS, create, names
from nasbeyond.space import MLPSpace


def test_every_kind_has_builtins():
    for kind in KINDS:
        assert names(kind), kind
    assert {"macro-cnn", "mlp"} <= set(names("space"))
    assert {"random", "evolution"} <= set(names("strategy"))
    assert {"digits", "mnist5k", "fashion-mnist", "cifar10", "image-folder", "csv"} <= set(
        names("dataset")
    )


def test_unknown_name_lists_allowed():
    with pytest.raises(ConfigError, match="allowed: .*random"):
        create("strategy", "nope", space=MLPSpace())


def test_unknown_argument_lists_allowed():
    with pytest.raises(ConfigError, match="unknown argument 'popsize'.*population_size"):
        create("strategy", "evolution", space=MLPSpace(), popsize=3)
