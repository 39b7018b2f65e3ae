"""Free text that callers write into the ledger (break-glass and regulation justifications,
audit review comments, feeding-opposition reasons): one rule, applied where the text enters,
before the policy decides, so the engine decides on the text that is stored.

- Line ends: CR LF and a lone CR become LF; TAB and LF are kept.
- Any other control character (C0, DEL, C1: ESC, BEL, NEL…) is refused: a 422 naming the
  field, nothing decided nor recorded. They would reach the auditors' terminals and pages as
  escape sequences (``vigie audit`` prints justifications), and no person types them.
- Both ends are trimmed of whitespace and of characters that show nothing: format characters
  (Unicode category Cf: zero-width space U+200B, word joiner, BOM, bidirectional marks…),
  separators (Zs, Zl, Zp), the other default-ignorable code points (Hangul fillers…) and
  the braille blank U+2800; combining marks stay. What is left is stored.
- Text with no visible character (none left once those and the default-ignorable combining
  marks, such as variation selectors, are set aside) is blank: a justification that is no
  justification (``emergency.justification_required``); a comment or reason refused as empty.
"""

from __future__ import annotations

import unicodedata

from api.problem import unprocessable

_KEPT_CONTROLS = frozenset("\t\n")
_BLANK_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp"})
_INVISIBLE_RANGES = (  # Default_Ignorable_Code_Point outside Cf (Unicode 15.1), braille blank
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2065, 0x2065),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)


def invisible(char: str) -> bool:
    """Whether ``char`` shows nothing: whitespace, a format character, a separator or another
    default-ignorable code point."""
    if char.isspace() or unicodedata.category(char) in _BLANK_CATEGORIES:
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in _INVISIBLE_RANGES)


def visible_length(text: str) -> int:
    """How many characters of ``text`` show something."""
    return sum(1 for char in text if not invisible(char))


def check_controls(text: str, field: str) -> str:
    """``text`` with CR LF and CR made LF; raises the 422 problem naming ``field`` if any
    other control character than TAB and LF is left."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for char in text:
        if unicodedata.category(char) == "Cc" and char not in _KEPT_CONTROLS:
            raise unprocessable(
                f"field {field!r}: control character U+{ord(char):04X} is not allowed "
                "(only tab and line breaks)",
                field,
            )
    return text


def clean(text: str | None, field: str) -> str | None:
    """The stored form of free text ``text`` sent as ``field``: controls checked, both ends
    trimmed of what shows nothing; None if ``text`` is None or nothing visible is left."""
    if text is None:
        return None
    text = check_controls(text, field)
    start, end = 0, len(text)
    while start < end and _trimmed(text[start]):
        start += 1
    while end > start and _trimmed(text[end - 1]):
        end -= 1
    text = text[start:end]
    return text if visible_length(text) else None


def _trimmed(char: str) -> bool:
    """Invisible and not a combining mark (a variation selector ending an emoji stays)."""
    return invisible(char) and unicodedata.category(char) != "Mn"


def required(text: str, field: str, what: str) -> str:
    """``clean(text)``, which must not be blank (else a 422 ``what`` naming ``field``)."""
    cleaned = clean(text, field)
    if cleaned is None:
        raise unprocessable(what, field)
    return cleaned
