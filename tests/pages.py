"""Reading a generated report the way a person (or an attacker) would."""

from __future__ import annotations

import base64
import html
import io
import re

import pandas as pd

CSV_LINK = re.compile(r'download="([^"]+)\.csv" href="data:text/csv;charset=utf-8;base64,([^"]+)"')
IMAGE = re.compile(r'src="data:image/png;base64,[^"]+"')


def downloads(page: str) -> dict[str, pd.DataFrame]:
    """Every table behind a "numbers behind this chart" link, by its file name."""
    return {
        name: pd.read_csv(io.BytesIO(base64.b64decode(data)), dtype=str, keep_default_na=False)
        for name, data in CSV_LINK.findall(page)
    }


def readable(page: str) -> str:
    """The page's text with its downloads decoded and its images left out, so a
    search finds what a reader can see, never a chance match inside base64."""
    text = html.unescape(IMAGE.sub('src=""', CSV_LINK.sub("", page)))
    tables = "\n".join(t.to_csv(index=False) for t in downloads(page).values())
    return text + "\n" + tables
