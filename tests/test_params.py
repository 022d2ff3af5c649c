import pytest

from sticky.params import Param, Spec, number_list, parse_cli_value

SPEC = Spec(
    n_texts=Param(int, "texts per keyword", by_profile={"smoke": 2, "book": 8, "paper": 110}, low=1),
    rate=Param(float, "poison token fraction", default=1e-3, low=0, high=1, open_low=True, open_high=True),
    model=Param(str, "which model", default="micro-m", choices=("micro-m", "gemma-3-270m")),
    hub=Param(str, "optional hub id", nullable=True),
)


def test_profile_fills_defaults_and_overrides_win():
    assert SPEC.resolve({"profile": "smoke"}).n_texts == 2
    assert SPEC.resolve({}).n_texts == 8  # book is the default profile
    assert SPEC.resolve({"profile": "paper", "n_texts": 3}).n_texts == 3
    assert SPEC.resolve({"n_texts": None}).n_texts == 8  # None in the parameters cell = profile's value
    assert SPEC.resolve({}).hub is None


def test_int_accepted_for_float_and_converted():
    value = Param(float, "x", low=0).check("x", 2)
    assert value == 2.0 and isinstance(value, float)


def test_number_given_to_a_text_parameter_is_its_text():
    # papermill and the CLI read "-p rates 1e-3" as a float; a list-of-numbers parameter takes it as one item
    assert Param(str, "rates").check("rates", 1e-3) == "0.001"
    assert Param(str, "seeds").check("seeds", 2) == "2"
    with pytest.raises(ValueError):
        Param(str, "flag").check("flag", True)


@pytest.mark.parametrize(
    "given, words",
    [
        ({"no_such_param": 1}, ["'no_such_param'", "profile, n_texts, rate, model, hub"]),
        ({"profile": "huge"}, ["'profile'", "smoke, book, paper"]),
        ({"n_texts": -1}, ["'n_texts'", "[1, inf)"]),
        ({"n_texts": 2.5}, ["'n_texts'", "int"]),
        ({"n_texts": True}, ["'n_texts'", "int"]),
        ({"rate": 0}, ["'rate'", "(0, 1)"]),
        ({"rate": 1.0}, ["'rate'", "(0, 1)"]),
        ({"rate": float("nan")}, ["'rate'"]),
        ({"rate": "0.1"}, ["'rate'", "float"]),
        ({"model": "gpt-9"}, ["'model'", "micro-m, gemma-3-270m"]),
    ],
)
def test_bad_input_is_one_line_naming_parameter_and_allowed(given, words):
    with pytest.raises(ValueError) as err:
        SPEC.resolve(given)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_notebook_namespace_ignores_kernel_names_and_imports():
    import math

    namespace = {"In": [], "Out": {}, "_i1": "x", "get_ipython": print, "math": math, "profile": "smoke"}
    assert SPEC.resolve(namespace).profile == "smoke"


def test_cli_values_parse_like_papermill():
    assert parse_cli_value("3") == 3 and isinstance(parse_cli_value("3"), int)
    assert parse_cli_value("1e-3") == 1e-3
    assert parse_cli_value("True") is True and parse_cli_value("None") is None
    assert parse_cli_value("micro-m") == "micro-m"


def test_describe_lists_every_parameter():
    rows = SPEC.describe("smoke")
    assert [r["name"] for r in rows] == ["profile", "n_texts", "rate", "model", "hub"]
    assert rows[1]["default"] == 2


def test_number_list_by_hand():
    assert number_list("alphas", "0.25, 0.5,1") == [0.25, 0.5, 1.0]
    assert number_list("ks", 8, int, 0, 99) == [8]
    assert number_list("rates", "0.1", float, 0, 0.1, open_low=True) == [0.1]
    for text, kw in [("0", dict(low=0, open_low=True)), ("1,1", {}), ("a", {}), ("", {}), ("2", dict(high=1)),
                     ("1.5", dict(kind=int))]:
        with pytest.raises(ValueError) as err:
            number_list("x", text, **kw)
        assert "'x'" in str(err.value) and "allowed" in str(err.value) and "\n" not in str(err.value)
