"""Order tags and transfer client ids: OKX's rules for them, and fresh ones.

Every purchase carries a tag, and every funds transfer a ``clientId``; it is how a
trade whose answer was lost is found again. Generated tags are a caller's prefix plus
10 random letters and digits; generated client ids the prefix plus 20.
"""

from __future__ import annotations

import re
import secrets
import string

__all__ = ["check_client_id", "check_tag", "check_tag_prefix", "new_client_id", "new_tag"]

_ALPHABET = string.ascii_letters + string.digits
_TAG_RANDOM = 10  # 62**10 ≈ 8e17 tags: collisions are not a practical concern
# OKX's rule for an order tag, and the prefix of the ones generated here.
_TAG = re.compile(r"[A-Za-z0-9]{1,16}")
_PREFIX = re.compile(r"[A-Za-z0-9]{0,6}")


def check_tag(tag: str) -> str:
    """``tag`` if OKX accepts it as an order tag: 1-16 letters and digits.

    Raises:
        ValueError: it is not.
    """
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise ValueError(f"tag must be 1-16 letters and digits (A-Z, a-z, 0-9), got {tag!r}")
    return tag


def check_tag_prefix(prefix: str) -> str:
    """``prefix`` if it can start generated tags: 0-6 letters and digits.

    Raises:
        ValueError: it cannot.
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"tag prefix must be 0-6 letters and digits, got {prefix!r}")
    return prefix


def new_tag(prefix: str = "") -> str:
    """A fresh purchase tag: ``prefix`` (0-6 letters/digits) + 10 random characters.

    Raises:
        ValueError: the prefix is longer than 6 or not alphanumeric.
    """
    check_tag_prefix(prefix)
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_TAG_RANDOM))


_CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_CLIENT_ID_RANDOM = 20  # 62**20: a generated id is never reused within OKX's 2 weeks


def check_client_id(client_id: str) -> str:
    """``client_id`` if OKX accepts it as a transfer's ``clientId``: 1-32 letters and
    digits (case-sensitive).

    Raises:
        ValueError: it is not.
    """
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ValueError(
            f"client_id must be 1-32 letters and digits (A-Z, a-z, 0-9), got {client_id!r}"
        )
    return client_id


def new_client_id(prefix: str = "") -> str:
    """A fresh transfer ``clientId``: ``prefix`` (0-6 letters/digits) + 20 random ones.

    Raises:
        ValueError: the prefix is longer than 6 or not alphanumeric.
    """
    check_tag_prefix(prefix)
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_CLIENT_ID_RANDOM))
