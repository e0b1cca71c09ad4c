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


def test_digits_and_a_suffix_read_the_same_as_the_same_amount_written_with_a_decimal_point():
    """Given quantities in the common form (digits and a suffix, read without the full grammar)
    and the same amounts written with a decimal point (read through it), when both are read,
    then they give the same millicores and counts, and the same refusal past int64."""
    pairs = [
        ("1500m", "1.500"), ("999m", "0.999"), ("1001m", "1.001"), ("0m", "0.0"), ("2", "2.0"),
        ("512Mi", "512.0Mi"), ("3Gi", "3.0Gi"), ("7k", "7.0k"), ("2T", "2.0T"), ("0100", "100.0"),
    ]
    for plain, pointed in pairs:
        assert parse_cpu_millis(plain) == parse_cpu_millis(pointed), plain
        assert parse_count(plain) == parse_count(pointed), plain
    for plain, pointed in (("1Ei", "1.0Ei"), ("6E", "6.0E")):  # beyond int64 as millicores
        assert parse_count(plain) == parse_count(pointed), plain
    assert parse_count("1m") == 1 and parse_count("1001m") == 2  # memory in milli-bytes rounds up
    for too_big in ("9223372036854775808", "10Ei"):
        with pytest.raises(QuantityError, match="out of range"):
            parse_count(too_big)
    with pytest.raises(QuantityError, match="out of range"):
        parse_cpu_millis("9223372036854775807")
