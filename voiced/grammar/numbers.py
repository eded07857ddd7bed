"""Spoken numbers <-> digits, for English.

Speech recognisers write numbers either way ("twenty one", "twenty-one", "21"), so both the
utterance and the templates are rewritten to digits before matching.
"""
from __future__ import annotations

from typing import List, Optional, Tuple, Union

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1000000}
NUMBER_WORDS = tuple(UNITS) + tuple(TENS) + tuple(SCALES)
_UNIT_NAMES = {v: k for k, v in UNITS.items()}
_TEN_NAMES = {v: k for k, v in TENS.items()}

Number = Union[int, float]


def _small(tokens: List[str], i: int) -> Tuple[Optional[int], int]:
    """Parse 0..99 at tokens[i]: "seven", "seventeen", "twenty", "twenty one"."""
    if i >= len(tokens):
        return None, i
    word = tokens[i]
    if word in UNITS:
        return UNITS[word], i + 1
    if word in TENS:
        if i + 1 < len(tokens) and tokens[i + 1] in UNITS and 0 < UNITS[tokens[i + 1]] < 10:
            return TENS[word] + UNITS[tokens[i + 1]], i + 2
        return TENS[word], i + 1
    return None, i


def _integer(tokens: List[str], i: int) -> Tuple[Optional[int], int]:
    """Parse an integer in words starting at tokens[i]; returns (value, next index)."""
    total, current, j = 0, None, i
    while j < len(tokens):
        value, k = _small(tokens, j)
        if value is not None and current is None:
            current, j = value, k
            continue
        word = tokens[j]
        if word == "a" and current is None and j + 1 < len(tokens) and tokens[j + 1] in SCALES:
            current, j = 1, j + 1  # "a hundred"
            continue
        if word in SCALES and current is not None and current > 0:
            scale = SCALES[word]
            if scale == 100:
                current *= 100
            else:
                total += current * scale
                current = None
            j += 1
            # "one hundred and five": the "and" belongs to the number only before a small number.
            if j + 1 < len(tokens) and tokens[j] == "and" and _small(tokens, j + 1)[0] is not None:
                j += 1
            if scale == 100:
                rest, k = _small(tokens, j)
                if rest is not None:
                    current += rest
                    j = k
            continue
        break
    if j == i or (current is None and total == 0):
        return None, i
    return total + (current or 0), j


def words_to_digits(tokens: List[str]) -> List[str]:
    """Replace every spoken number in a token list by its digits ("twenty one" -> "21")."""
    return [text for text, _, _ in number_groups(tokens)]


def number_groups(tokens: List[str]) -> List[Tuple[str, int, int]]:
    """`words_to_digits` as (token, first, end): each output token and the stretch
    tokens[first:end] it was read from."""
    out: List[Tuple[str, int, int]] = []
    i = 0
    while i < len(tokens):
        value, j = _integer(tokens, i)
        if value is None:
            out.append((tokens[i], i, i + 1))
            i += 1
            continue
        text = str(value)
        # "two point five" -> "2.5"
        if j + 1 < len(tokens) and tokens[j] == "point":
            digits = []
            k = j + 1
            while k < len(tokens) and tokens[k] in UNITS and UNITS[tokens[k]] < 10:
                digits.append(str(UNITS[tokens[k]]))
                k += 1
            if digits:
                text += "." + "".join(digits)
                j = k
        out.append((text, i, j))
        i = j
    return out


def parse_number(text: str) -> Optional[Number]:
    """A digit string as int or float ("21" -> 21, "2.5" -> 2.5); None when it is not one."""
    try:
        if text.isdigit():
            return int(text)
        if text.count(".") == 1 and text.replace(".", "").isdigit() and not text.endswith("."):
            return float(text)
    except ValueError:  # pragma: no cover - isdigit accepts some unicode digits int() refuses
        return None
    return None


def to_words(value: Number) -> str:
    """Spell a non-negative number in English words (21 -> "twenty one", 2.5 -> "two point five")."""
    if isinstance(value, float) and not value.is_integer():
        whole, frac = f"{value}".split(".")
        return to_words(int(whole)) + " point " + " ".join(_UNIT_NAMES[int(d)] for d in frac)
    n = int(value)
    if n < 0:
        raise ValueError("negative numbers are not spoken by this grammar")
    if n < 20:
        return _UNIT_NAMES[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TEN_NAMES[tens * 10] + (" " + _UNIT_NAMES[unit] if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _UNIT_NAMES[hundreds] + " hundred" + (" " + to_words(rest) if rest else "")
    if n < 1000000:
        thousands, rest = divmod(n, 1000)
        return to_words(thousands) + " thousand" + (" " + to_words(rest) if rest else "")
    if n < 1000000000:
        millions, rest = divmod(n, 1000000)
        return to_words(millions) + " million" + (" " + to_words(rest) if rest else "")
    billions, rest = divmod(n, 1000000000)
    return to_words(billions) + " billion" + (" " + to_words(rest) if rest else "")
