import pytest

from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require


def test_missing_extra_names_what_to_install():
    assert require("json", "dev", "x", "y").dumps([]) == "[]"
    with pytest.raises(
        ConfigError,
        match=r"executor: 'ray' needs no_such_mod_x; install it "
        r"with `pip install nasbeyond\[ray\]`",
    ):
        require("no_such_mod_x", "ray", "executor", "'ray'")
