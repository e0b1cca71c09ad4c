"""Kubernetes resource quantities (autoscaler.quantity): CPU in millicores, the rest in whole units."""

from __future__ import annotations

import pytest

from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis

GI, MI = 2**30, 2**20


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        ("500m", 500),
        ("2", 2000),
        (2, 2000),
        (0.25, 250),
        ("1.5", 1500),
        ("0.1", 100),
        ("100u", 1),  # a fraction of a millicore is rounded up, as the API server does
        ("1n", 1),
        ("0", 0),
        (" 250m ", 250),
        ("2k", 2_000_000),
        ("1e3", 1_000_000),
    ],
)
def test_cpu_in_millicores(value, millis):
    assert parse_cpu_millis(value) == millis


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("16Gi", 16 * GI),
        ("1G", 10**9),
        ("1e3", 1000),
        ("1E3", 1000),
        ("1.5Gi", 1_610_612_736),
        ("128974848", 128_974_848),
        ("129e6", 129_000_000),
        ("123Mi", 128_974_848),
        ("1Ki", 1024),
        ("1k", 1000),
        ("1M", 10**6),
        ("1Ti", 2**40),
        (3, 3),
        ("0.5", 1),  # fractions of a byte / device are rounded up
        ("1m", 1),
    ],
)
def test_whole_units(value, count):
    assert parse_count(value) == count


def test_binary_and_decimal_spellings_of_the_same_size_agree():
    assert parse_count("123Mi") == parse_count("128974848")
    assert parse_count("129e6") == parse_count("129M")


@pytest.mark.parametrize("value", ["abc", "", "1.2.3", "-1", "5Xi", "1 Gi", "Gi", ".", "-0.5"])
@pytest.mark.parametrize("parse", [parse_cpu_millis, parse_count])
def test_bad_text_is_an_error_naming_the_value(parse, value):
    with pytest.raises(QuantityError) as err:
        parse(value)
    assert repr(value) in str(err.value)


@pytest.mark.parametrize("value", [None, True, False, [1], {"cpu": 1}])
@pytest.mark.parametrize("parse", [parse_cpu_millis, parse_count])
def test_values_that_are_not_quantities_are_errors(parse, value):
    with pytest.raises(QuantityError) as err:
        parse(value)
    assert repr(value) in str(err.value)


def test_quantity_error_is_a_value_error():
    assert issubclass(QuantityError, ValueError)
