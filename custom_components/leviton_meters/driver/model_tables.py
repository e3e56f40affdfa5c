"""The tables of Leviton model numbers: what each field of each format stands for.

Data only, transcribed from Leviton's "Series 1000/2000 Meters" installation guide, section 2.1
"Model Number Description", and the Series 8000 guide's CT wiring tables; ``model_numbers.py``
decodes numbers with them.
"""

from __future__ import annotations

from typing import Final

#: Valid rated voltages per wires digit, with the wiring they stand for. The wires digit only
#: appears on Series 1000 meters; no digit means a Series 2000 3-phase 4-wire meter. Voltages
#: are line to neutral for 1-phase 2-wire meters, otherwise line to line (manual, 2.1).
ORIGINAL_VOLTAGES: Final[dict[str | None, dict[str, str]]] = {
    "2": {
        "120": "1 phase, 2 wire; 120 VAC",
        "277": "1 phase, 2 wire; 277 VAC",
    },
    "3": {
        "208": "1 or 2 phase, 3 wire; 120/208 VAC",
        "240": "1 or 2 phase, 3 wire; 120/240 VAC",
        "480": "1 or 2 phase, 3 wire; 277/480 VAC",
    },
    None: {
        "208": "3 phase, 4 wire; 120/208 VAC",
        "480": "3 phase, 4 wire; 277/480 VAC",
        "600": "3 phase, 4 wire; 347/600 VAC",
    },
}

INTERIM_VOLTAGES: Final[dict[str, dict[str, str]]] = {
    "1": {
        "120": "1 phase, 2 wire; 120 VAC",
        "277": "1 phase, 2 wire; 277 VAC",
        "208": "1 or 2 phase, 3 wire; 120/208 VAC",
        "240": "1 or 2 phase, 3 wire; 120/240 VAC",
        "480": "1 or 2 phase, 3 wire; 277/480 VAC",
    },
    "2": {
        "208": "3 phase, 4 wire; 120/208 VAC",
        "480": "3 phase, 4 wire; 277/480 VAC",
        "600": "3 phase, 4 wire; 347/600 VAC",
    },
}

ENCLOSURES: Final[dict[str, str]] = {
    "X": "extra large",
    "S": "small outdoor",
    "L": "large",
    "R": "small outdoor with clear lid",
    "M": "medium",
    "N": "indoor surface mount",
}

INTERIM_CT_CODES: Final[dict[str, tuple[int, str]]] = {
    "011": (100, "100:0.1"),
    "021": (200, "200:0.1"),
    "022": (200, "200:0.2"),
    "041": (400, "400:0.1"),
    "061": (600, "600:0.1"),
    "081": (800, "800:0.1"),
    "121": (1200, "1200:0.1"),
}

NEW_VOLTAGES: Final[dict[str, str]] = {
    "120": "1 pole, 2 wire; 120 VAC",
    "208": "3 pole, 4 wire; 120/208 VAC",
    "240": "2 pole, 3 wire; 120/208 or 120/240 VAC",
    "277": "1 pole, 2 wire; 277 VAC",
    "416": "3 pole, 4 wire; 240/416 VAC",
    "24G": "grounded delta, 3 wire; 240 VAC",
    "48G": "grounded delta, 3 wire; 480 VAC",
}

#: The manual's table lists 480 twice; the series digit tells which one a number means.
NEW_480: Final[dict[str, str]] = {
    "1": "2 pole, 3 wire; 277/480 VAC",
    "2": "3 pole, 4 wire; 277/480 VAC",
}

#: Known prefixes: (voltage, options). "277" is the 277 V variant, "S8120" the 120 V one.
#: The guide never expands the "U" of S8UTS/S8UWH; it is read as the 120 V variant because
#: the 277 V ones carry their own prefix (inferred, not stated).
S8000_PREFIXES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "S8UTS": ("120", ("terminal strip",)),
    "S8UWH": ("120", ("wiring harness",)),
    "277TS": ("277", ("terminal strip",)),
    "277WH": ("277", ("wiring harness",)),
    "S8120": ("120", ()),
}
