"""marshmallow schemas for what instances send: the ping envelope, error reports, metadata.

Only the envelope of a ping is validated here (a handful of fields); the thousands of counters
are walked by the worker, which is ~40x cheaper than a field per counter.
"""
from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from workers.installations import EDITIONS, format_timestamp, parse_timestamp

MAX_TEXT = 1000


class Timestamp(fields.Field):
    """An ISO 8601 timestamp (`...Z` or `...+00:00`), loaded as canonical UTC text."""

    default_error_messages = {"invalid": "Not a valid ISO 8601 timestamp."}

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return format_timestamp(parse_timestamp(value))
        except (TypeError, ValueError, OverflowError):
            raise self.make_error("invalid") from None


MAX_INTEGER = 2**63 - 1  # SQLite's INTEGER


class Count(fields.Integer):
    """A whole number >= 0 given as a JSON number (not a string, not a boolean) that SQLite
    can store."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, validate=validate.Range(min=0, max=MAX_INTEGER), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class NonNegative(fields.Float):
    """A JSON number >= 0 (not a boolean)."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, validate=validate.Range(min=0), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def Text(**kwargs):
    return fields.String(validate=validate.Length(max=MAX_TEXT), **kwargs)


def no_control_characters(value: str) -> None:
    """Identity fields end up in CSV exports and pages: a CR or NUL in a hostname is never
    real, and a CR would start a new row in a spreadsheet."""
    if CONTROL.search(value):
        raise ValidationError("Must not contain control characters.")


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def Name(max_length: int = MAX_TEXT, min_length: int | None = None, **kwargs):
    """Text of an identity field: a length cap and no control characters."""
    return fields.String(validate=[validate.Length(min=min_length, max=max_length),
                                   no_control_characters], **kwargs)


class PingEnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    uuid = Name(200, min_length=1, required=True)
    hostname = Name(required=True)
    version = Name(100, required=True)
    recorded_at = Timestamp(required=True)
    edition = fields.String(allow_none=True, validate=validate.OneOf(EDITIONS))
    installation_type = Name(allow_none=True)
    active_user_count = Count(allow_none=True)
    unique_instance_id = Name(allow_none=True)
    gitlab_dedicated = fields.Boolean(allow_none=True, truthy={True}, falsy={False})

    @validates("uuid")
    def _uuid_not_blank(self, value, **kwargs):
        if not value.strip():
            raise ValidationError("Must not be blank.")


ENVELOPE_FIELDS = tuple(PingEnvelopeSchema().fields)


class ErrorReportSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    time = Timestamp(allow_none=True)
    uuid = Text(allow_none=True)
    unique_instance_id = Text(allow_none=True)
    hostname = Text(allow_none=True)
    version = Text(allow_none=True)
    message = fields.String(required=True, validate=validate.Length(min=1, max=20_000))
    elapsed = NonNegative(allow_none=True)


class ErrorEnvelopeSchema(Schema):
    error = fields.Nested(ErrorReportSchema, required=True)


class MetricTimingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    time_elapsed = NonNegative(allow_none=True)
    error = fields.String(allow_none=True, validate=validate.Length(max=20_000))


class MetadataSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    uuid = fields.String(required=True, validate=validate.Length(min=1, max=200))
    unique_instance_id = Text(allow_none=True)
    metrics = fields.List(fields.Nested(MetricTimingSchema), required=True,
                          validate=validate.Length(max=100_000))


class MetadataEnvelopeSchema(Schema):
    metadata = fields.Nested(MetadataSchema, required=True)


def load_envelope(payload: dict) -> dict:
    """Validate the identity fields of a ping payload; raise ValidationError naming each bad one."""
    return PingEnvelopeSchema().load({k: payload[k] for k in ENVELOPE_FIELDS if k in payload})
