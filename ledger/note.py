"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures.

A note is UTF-8 text ending in a newline, then a blank line, then one or more signature lines
``— <key name> <base64(key id || signature)>``. The key id is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` and the verifier key string is
``<name>+<hex key id>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import NoteError, SignatureError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04  # c2sp.org/tlog-cosignature: timestamped Ed25519 cosignatures
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space


def _check_name(name: str) -> None:
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """The 4-byte C2SP key id of a public key of signature type ``alg`` under ``name``."""
    return sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


def parse_vkey(vkey: str, alg: int) -> tuple[str, bytes, bytes]:
    """Parse a C2SP verifier key ``name+hexid+base64(alg || key)`` of an Ed25519 key of
    signature type ``alg``: (name, key id, public key); checks the type byte, size and id."""
    vkey = vkey.strip()
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"verifier key must be name+keyid+key, got {len(parts)} part(s)")
    name, hex_id, b64_key = parts
    _check_name(name)
    if len(hex_id) != 8 or hex_id.lower() != hex_id:
        raise NoteError(f"verifier key id must be 8 lowercase hex digits, got {hex_id!r}")
    try:
        claimed = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise NoteError(f"verifier key id {hex_id!r} is not hex") from exc
    raw = _b64decode(b64_key, "verifier key")
    if len(raw) != 33 or raw[0] != alg:
        raise NoteError(f"verifier key must be 0x{alg:02x} followed by a 32-byte Ed25519 key")
    public_key = raw[1:]
    expected = key_id(name, public_key, alg)
    if expected != claimed:
        raise NoteError(f"verifier key id mismatch: expected {expected.hex()}, got {hex_id}")
    return name, claimed, public_key


def vkey_string(name: str, public_key: bytes, alg: int) -> str:
    """The C2SP verifier key string of an Ed25519 key of signature type ``alg``."""
    encoded = base64.b64encode(bytes([alg]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key, alg).hex()}+{encoded}"


def load_ed25519_pem(pem: bytes, what: str) -> Ed25519PrivateKey:
    """An unencrypted PKCS#8 PEM Ed25519 private key (the bytes, not a path); raises NoteError
    naming ``what`` (e.g. "the signing key") when it is not one."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise NoteError(f"cannot load the PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"{what} must be Ed25519, got {type(key).__name__}")
    return key


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteError(f"{what} is not valid base64: {text!r}") from exc


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A C2SP verifier key of an Ed25519 key whose signature type byte is the class's ``ALG``:
    its name, 4-byte key id and public key (:class:`NoteVerifier`, and the witnesses'
    ``ledger.cosignature.CosignatureVerifier``)."""

    ALG: ClassVar[int] = ALG_ED25519
    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_string(cls, vkey: str) -> Self:
        """Parse ``name+hexid+base64(ALG || key)``; checks the type byte, key size and key id."""
        return cls(*parse_vkey(vkey, cls.ALG))

    def __str__(self) -> str:
        return vkey_string(self.name, self.public_key, self.ALG)


@dataclass(frozen=True, slots=True)
class NoteVerifier(VerifierKey):
    """A trusted Ed25519 note verifier key (signature type 0x01)."""

    ALG: ClassVar[int] = ALG_ED25519

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """Signs notes with one Ed25519 private key under a key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = private_key
        public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.verifier = NoteVerifier(name, key_id(name, public), public)

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> NoteSigner:
        """Load an unencrypted PKCS#8 PEM Ed25519 private key (the bytes, not a path)."""
        return cls(name, load_ed25519_pem(pem, "the signing key"))

    def signature_line(self, text: str) -> str:
        """The signature line (with its newline) of this key over ``text``."""
        signature = self._key.sign(text.encode("utf-8"))
        encoded = base64.b64encode(self.verifier.key_id + signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"


def _check_text(text: str) -> None:
    if not text or not text.endswith("\n"):
        raise NoteError("note text must be non-empty and end with a newline")
    bad = next((ch for ch in text if ch != "\n" and (ord(ch) < 0x20 or ord(ch) == 0x7F)), None)
    if bad is not None:
        raise NoteError(f"note text holds control character U+{ord(bad):04X}")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Return the signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    if not signers:
        raise NoteError("at least one signer is needed")
    return text + "\n" + "".join(signer.signature_line(text) for signer in signers)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One parsed signature line."""

    name: str
    key_id: bytes
    signature: bytes


def parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines (nothing verified)."""
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    if not block.endswith("\n"):
        raise NoteError("signature block must end with a newline")
    signatures: list[NoteSignature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"malformed signature line {line[:60]!r}")
        fields = line[len(SIGNATURE_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteError(f"malformed signature line {line[:60]!r}")
        name, encoded = fields
        _check_name(name)
        raw = _b64decode(encoded, "signature")
        if len(raw) < 5:
            raise NoteError(f"signature of {name!r} is too short ({len(raw)} bytes)")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, signatures


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> str:
    """Verify ``note`` and return its text.

    Every signature line from a known (name, key id) must verify, and at least one must be
    present; signatures from unknown keys are ignored, as C2SP says. Raises SignatureError
    (or NoteError when malformed)."""
    text, signatures = parse_note(note)
    message = text.encode("utf-8")
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = 0
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise SignatureError(
                f"signature of {sig.name}+{sig.key_id.hex()} does not verify over the note text"
            )
        verified += 1
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in signatures)
        expected = ", ".join(str(v).split("+", 2)[0] + "+" + v.key_id.hex() for v in verifiers)
        raise SignatureError(f"no signature by a trusted key: expected {expected}, got {names}")
    return text
