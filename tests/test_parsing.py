"""Value parsing: dates are never read month-first, booleans and numbers in
Indonesian and English forms."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from casework_analytics.parsing import parse_booleans, parse_dates, parse_numbers, to_text


def test_dates_iso_and_day_first_only():
    values = pd.Series(
        [
            "2024-03-18",
            "18/03/2024",
            "3/6/2024",
            "03/18/2024",
            "31/02/2024",
            "2024-03-18 14:05",
            "18.03.2024",
            "kemarin",
            None,
        ]
    )
    dates, bad, _ = parse_dates(values)
    expected = [
        "2024-03-18",
        "2024-03-18",
        "2024-06-03",
        None,
        None,
        "2024-03-18",
        "2024-03-18",
        None,
        None,
    ]
    assert dates.tolist() == [pd.Timestamp(d) if d else pd.NaT for d in expected]
    # 03/18/2024 (month-first), 31 February and free text are reported; empty is not.
    assert bad.tolist() == [False, False, False, True, True, False, False, True, False]


def test_dates_from_excel_objects_and_datetime_columns():
    mixed = pd.Series([pd.Timestamp("2024-03-18 10:00"), "25/03/2024"], dtype=object)
    dates, bad, _ = parse_dates(mixed)
    assert dates.tolist() == [pd.Timestamp("2024-03-18"), pd.Timestamp("2024-03-25")]
    assert not bad.any()
    typed, _, _ = parse_dates(pd.Series(pd.to_datetime(["2024-01-02 12:00"])))
    assert str(typed.dtype) == "datetime64[ns]" and typed[0] == pd.Timestamp("2024-01-02")


def test_booleans_in_both_languages():
    values = pd.Series(["ya", "Tidak", "YES", "no", "1", "0", "true", "False", "mungkin", None])
    parsed, bad = parse_booleans(values)
    assert parsed.tolist()[:8] == [True, False, True, False, True, False, True, False]
    assert parsed.isna().tolist()[8:] == [True, True]
    assert bad.tolist() == [False] * 8 + [True, False]


def test_numbers_accept_decimal_comma():
    parsed, bad = parse_numbers(pd.Series(["12,5", "30", "tiga", None]))
    assert parsed.tolist()[:2] == [12.5, 30.0]
    assert bad.tolist() == [False, False, True, False]


def test_whole_float_ids_lose_their_decimal():
    assert to_text(pd.Series([101.0, None])).tolist()[0] == "101"


def test_text_of_infinite_huge_and_fractional_floats():
    values = pd.Series([np.inf, -np.inf, 1e300, 2.0**60, 12.5, 7.0, np.nan])
    assert to_text(values).tolist() == [
        "inf",
        "-inf",
        "1e+300",
        "1.152921504606847e+18",
        "12.5",
        "7",
        pd.NA,
    ]


def test_dates_outside_the_nanosecond_range_are_flagged_not_raised():
    values = pd.Series(
        [
            "9999-12-31",
            "31/12/9999",
            "1677-09-21",
            "1677-09-22",
            "2262-04-11",
            "2262-04-12",
            "12345-01-01",
            "0000-01-01",
            dt.date(9999, 12, 31),
            dt.datetime(1600, 1, 1, 12),
            "2024-03-18T10:00:00+07:00",
        ],
        dtype=object,
    )
    dates, bad, out_of_range = parse_dates(values)
    assert str(dates.dtype) == "datetime64[ns]"
    assert out_of_range.tolist() == [
        True,
        True,
        True,
        False,
        False,
        True,
        True,
        False,
        True,
        True,
        False,
    ]
    assert bad.tolist() == [False] * 7 + [True, False, False, False]
    assert dates[[3, 4, 10]].tolist() == [
        pd.Timestamp("1677-09-22"),
        pd.Timestamp("2262-04-11"),
        pd.Timestamp("2024-03-18"),
    ]
    wide = pd.Series(np.array(["9999-12-31", "2024-01-01T23:59"], dtype="datetime64[us]"))
    dates, bad, out_of_range = parse_dates(wide)
    assert out_of_range.tolist() == [True, False] and dates[1] == pd.Timestamp("2024-01-01")
