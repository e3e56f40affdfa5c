"""What a decoded model number says, in the words the command line and the status page show
(``describe_model``): one phrase per thing the number tells, nothing it does not."""

from __future__ import annotations

import pytest

from leviton_driver.model_numbers import ModelInfo, decode_model, describe_model


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (
            "2N208-021",
            "new model-number format, 3 pole, 4 wire; 120/208 VAC, 200 A CTs, indoor enclosure, "
            "no demand option",
        ),
        (
            "1N240-01D",
            "new model-number format, 2 pole, 3 wire; 120/208 or 120/240 VAC, 100 A CTs, indoor "
            "enclosure, demand option",
        ),
        (  # an alternate CT has no rating in the number: named, not invented
            "2N208-AA1",
            "new model-number format, 3 pole, 4 wire; 120/208 VAC, CTs: alternate, indoor "
            "enclosure, no demand option",
        ),
        (  # an option code the manual leaves open: neither demand nor no demand
            "1R240-02C",
            "new model-number format, 2 pole, 3 wire; 120/208 or 120/240 VAC, 200 A CTs, "
            "outdoor enclosure, variable option C",
        ),
        (
            "S2208L42021-00",
            "interim model-number format, 3 phase, 4 wire; 120/208 VAC, 200 A CTs, large "
            "enclosure, no demand option",
        ),
        (  # the original format says nothing of an enclosure or a demand option
            "BL3208200SPPKG",
            "original model-number format, 1 or 2 phase, 3 wire; 120/208 VAC, 200 A CTs, split "
            "core CTs",
        ),
        ("S8UTS-083", "8 metering points, 3 CTs per point, 120 V, terminal strip"),
        ("S8UTS-081", "8 metering points, 1 CT per point, 120 V, terminal strip"),
    ],
)
def test_a_model_number_in_words(model: str, words: str) -> None:
    assert describe_model(decode_model(model)) == words


def test_a_series_8000_point_count_the_meter_reports_is_not_repeated() -> None:
    info = decode_model("S8UTS-083")
    assert describe_model(info, points=8) == "3 CTs per point, 120 V, terminal strip"
    # A meter that counts other points than its label says: both are shown.
    assert describe_model(info, points=12) == (
        "8 metering points, 3 CTs per point, 120 V, terminal strip"
    )


def test_nothing_known_is_no_description() -> None:
    assert describe_model(None) is None
    bare = ModelInfo(
        model="S8",
        format="series8000",
        series="8000",
        voltage=None,
        voltage_configuration=None,
        ct_rating_amps=None,
        ct_description=None,
        enclosure=None,
        demand=None,
        options=(),
    )
    assert describe_model(bare) is None
