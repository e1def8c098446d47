"""schemathesis hooks for Keel (loaded through `hooks` in schemathesis.toml).

One hook, `filter_failure`, and it drops only two kinds of finding, each recognised exactly:

1. "Schema-valid request rejected" (positive_data_acceptance) when the 400 names nothing but a
   business rule that JSON Schema cannot state and that the operation's description documents:
   endsAt after startsAt, users and pools that must exist, uniqueness of one property across
   array items, an opaque cursor, a Liquid template Keel refuses (campaign submit and preview). Every field of the 400's details.fields must match one of the
   rules below (field and message, as the API words them); a 400 that names anything else, or a
   rule on another operation, is still a finding. So the check stays on for these operations
   too, for every other reason a valid request could be refused.

2. "Schema-violating request accepted" (negative_data_rejection) for a text/csv body that
   schemathesis generated as a non-string (null, a number, an object) and then sent through its
   plain-text serializer: on the wire it is a string, which the document allows, so the server
   rightly reads it as CSV. (schemathesis 4.32.5 treats text/plain bodies so itself, but not the
   other text/* types.) Only when the body was the one negated part of the request.
"""

from __future__ import annotations

import json
import re

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData

# A Liquid template Keel refuses (domain/template.ts, every message it words), documented on both operations.
TEMPLATE_RULE = (
    r"template\.(?:subject|body)",
    r"^(?:unknown variable|unknown filter|unknown tag|tag \"[^\"]*\" is not allowed|Liquid syntax error|nested too deeply"
    r"|tags nested more than|longer than \d+ characters|takes longer than|needs more than|renders to more than|cannot be rendered)",
)

# (method, path) -> [(field, message pattern)] : the documented rules that answer 400.
RULES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("POST", "/v1/bookings"): [
        ("endsAt", r"must be later than startsAt"),
    ],
    ("POST", "/v1/campaigns"): [
        ("audience.userIds", r"unknown: "),
        ("promoPoolId", r"unknown pool|pool smaller than the audience|required by promoCode"),
        TEMPLATE_RULE,
    ],
    ("POST", "/v1/campaigns/preview"): [
        TEMPLATE_RULE,
    ],
    ("POST", "/v1/promo-pools"): [
        # ?name= is required with text/csv and refused with application/json.
        ("name", r"must be a string|Unrecognized key"),
        # A CSV upload whose only line is the header "code".
        ("body", r"must contain at least one code"),
    ],
    ("POST", "/v1/users/batch"): [
        (r"users\.\d+\.userId", r"duplicate: userId "),
    ],
    ("GET", "/v1/reports"): [
        ("cursor", r"not a cursor from a previous page"),
    ],
}


def _error(response) -> dict | None:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _documented_rule(case, response) -> bool:
    rules = RULES.get((case.operation.method.upper(), case.operation.path))
    if not rules or response.status_code != 400:
        return False
    error = _error(response)
    if error is None or error.get("code") != "VALIDATION_FAILED":
        return False
    details = error.get("details") or {}
    # Promo codes repeated in a text/csv upload (a JSON upload states it: uniqueItems).
    if case.operation.path == "/v1/promo-pools" and details.get("duplicateCount", 0) > 0 and details.get("invalidCount", 0) == 0:
        return True
    fields = details.get("fields") or []
    if not fields:
        return False
    return all(
        any(re.fullmatch(field, str(f.get("field", ""))) and re.search(message, str(f.get("message", ""))) for field, message in rules)
        for f in fields
    )


def _stringified_text_body(case) -> bool:
    media_type = (case.media_type or "").split(";")[0].strip().lower()
    if not media_type.startswith("text/") or media_type == "text/plain" or isinstance(case.body, str):
        return False
    meta = case.meta
    if meta is None or not meta.is_negative_at(ParameterLocation.BODY):
        return False
    return not any(meta.is_negative_at(location) for location in meta.components if location != ParameterLocation.BODY)


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but the two kinds described above."""
    if isinstance(failure, RejectedPositiveData) and _documented_rule(case, response):
        return False
    if isinstance(failure, AcceptedNegativeData) and _stringified_text_body(case):
        return False
    return True
