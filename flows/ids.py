"""Stable identifiers and name folding: profile ids from names, paper ids from content."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

from flows.checksums import sha256_bytes

MAX_PROFILE_ID_CHARS = 80
PAPER_ID_HEX_CHARS = 16

# Letters that NFKD does not decompose into an ASCII base plus a combining mark.
_ASCII_LETTERS = str.maketrans(
    {
        "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",
        "ı": "i", "ŋ": "n", "Ŋ": "N",
    }
)
_NON_SLUG = re.compile(r"[^a-z0-9]+")
_NON_ALNUM = re.compile(r"[\W_]+")


def ascii_fold(text: str) -> str:
    """'Nießner José' -> 'Niessner Jose': drop diacritics, spell out letters NFKD keeps."""
    if text.isascii():
        return text  # nothing to translate, decompose or drop (most names and titles)
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS))
    return "".join(itertools.filterfalse(unicodedata.combining, decomposed))  # the marks dropped, in C


def slugify(text: str, max_chars: int = MAX_PROFILE_ID_CHARS) -> str:
    """ASCII slug safe as a folder name: 'Zhi-Hong Deng' -> 'zhi-hong-deng', '../etc' -> 'etc'."""
    slug = _NON_SLUG.sub("-", ascii_fold(text).lower()).strip("-")
    return slug[:max_chars].rstrip("-")


def profile_id(name: str) -> str:
    """The profile's id: the slug of its name; empty when the name has no letter or digit."""
    return slugify(name)


# A profile's own name is folded once per paper, and coauthors recur across its papers (emptied
# after each batch: enrich.forget_names).
@functools.lru_cache(maxsize=1 << 16)
def name_key(name: str) -> str:
    """Compare names across case, diacritics, hyphens, spaces and apostrophes.

    'Zhi-Hong Deng', 'Zhihong Deng', 'zhi hong deng' -> 'zhihongdeng'; "Marc'Aurelio" -> 'marcaurelio'.
    """
    return _NON_ALNUM.sub("", ascii_fold(name).casefold())


def paper_id(title: str, first_author: str) -> str:
    """Content-derived paper id, the same on every profile and in every release.

    sha256 over the case- and space-folded title and the folded first author shown, so a paper
    listed on two profiles gets one id; the date is left out because the site may show a
    year-less date on one capture and a full date on a later one.
    """
    # str.split() splits at exactly the characters `\s` matches (str.isspace), and drops them at both ends.
    folded_title = " ".join(unicodedata.normalize("NFKC", title).casefold().split())
    key = f"{folded_title}\x1f{name_key(first_author)}"
    return sha256_bytes(key.encode("utf-8"))[:PAPER_ID_HEX_CHARS]
