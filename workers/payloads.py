"""Turning bytes into payload objects and back: gzip with a size cap, strict JSON, archive codec."""
from __future__ import annotations

import json
import zlib

GZIP_WBITS = 16 + zlib.MAX_WBITS
_CHUNK = 64 * 1024


class PayloadError(ValueError):
    """A request body that cannot be read as a payload."""


class PayloadTooLarge(PayloadError):
    """A body, or its decompressed form, exceeds the configured cap."""


def gunzip_capped(body: bytes, cap: int) -> bytes:
    """Decompress a gzip body, refusing (without expanding it all) anything past `cap` bytes."""
    inflater = zlib.decompressobj(GZIP_WBITS)
    out = bytearray()
    data = body
    try:
        while data:
            out += inflater.decompress(data, cap + 1 - len(out))
            if len(out) > cap:
                raise PayloadTooLarge(f"decompressed body exceeds {cap} bytes")
            data = inflater.unconsumed_tail
        out += inflater.flush(cap + 1 - len(out))
    except zlib.error as exc:
        raise PayloadError(f"body is not valid gzip: {exc}") from None
    if len(out) > cap:
        raise PayloadTooLarge(f"decompressed body exceeds {cap} bytes")
    if not inflater.eof:
        raise PayloadError("gzip body is truncated")
    return bytes(out)


def _reject_constant(name: str):
    raise PayloadError(f"{name} is not valid JSON")


def parse_json(body: bytes | str):
    """Parse JSON exactly: big integers stay exact, NaN/Infinity are refused."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except PayloadError:
        raise
    except UnicodeDecodeError:
        raise PayloadError("body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise PayloadError("JSON is nested too deeply") from None


def parse_object(body: bytes | str) -> dict:
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise PayloadError(f"body must be a JSON object, not {type(payload).__name__}")
    return payload


def dump_json(payload) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def pack_archive(raw: bytes) -> bytes:
    """Compress a raw body for the archive."""
    return zlib.compress(raw, 6)


def unpack_archive(blob: bytes) -> bytes:
    return zlib.decompress(blob)
