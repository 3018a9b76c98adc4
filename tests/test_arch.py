from nasbeyond.arch import arch_key, canonical_json, copy_arch


def test_key_ignores_key_order():
    a = {"b": [1, 2], "a": {"y": 1, "x": 2}}
    b = {"a": {"x": 2, "y": 1}, "b": [1, 2]}
    assert arch_key(a) == arch_key(b)
    assert canonical_json(a) == canonical_json(b)


def test_key_tells_different_archs_apart():
    assert arch_key({"a": [1, 2]}) != arch_key({"a": [2, 1]})


def test_copy_is_deep():
    a = {"layers": [{"skips": [0]}]}
    c = copy_arch(a)
    c["layers"][0]["skips"].append(1)
    assert a["layers"][0]["skips"] == [0]
