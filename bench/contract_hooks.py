"""Schemathesis hooks for `bench/contract.sh`: what the OpenAPI document states in words but JSON
Schema cannot compute, taught to the generator.

- formats: `vn-tax-code` (the MST's weighted check digit), `lienthong-payment-code` (its check
  character), `lienthong-cursor` (a cursor the lists give);
- rules across fields (`x-lienthong-rules` in the document): a citizen's year of birth is the one
  their personal ID says, a payment's amount is the sum of its items;
- values a deployment configures (agencies, the services a token's scope names), left out of the
  schema-valid requests, which keep them to the defaults;
- the bank's `Lienthong-Signature` over the body it sends, with the demo bank's secret.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import time
import uuid

import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

SIGNATURE_FORM = re.compile(r"^t=[0-9]+(,[a-z0-9]+=[^,]*)+$")
BANK_SECRET = os.environ.get("LIENTHONG_BANK_SECRET", "demo-bank-secret").encode()

MST_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def mst_check(nine):
    rem = sum(int(d) * w for d, w in zip(nine, MST_WEIGHTS)) % 11
    return None if rem == 0 else str((10 - rem) % 10)


@st.composite
def tax_codes(draw):
    while True:
        nine = draw(st.text("0123456789", min_size=9, max_size=9))
        check = mst_check(nine)
        if check is not None and nine[2:9] != "0000000":
            break
    branch = draw(st.one_of(st.just(""), st.integers(1, 999).map(lambda n: "-%03d" % n)))
    return nine + check + branch


ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def code_check(payload):
    total = sum((i + 1) * ALPHABET.index(c) for i, c in enumerate(payload))
    return ALPHABET[(31 - total % 31) % 31 * 28 % 31]


payment_codes = st.text(ALPHABET, min_size=9, max_size=9).map(lambda p: p + code_check(p))

cursors = st.uuids().map(
    lambda u: base64.urlsafe_b64encode(("v1:" + str(u)).encode()).decode().rstrip("=")
)

schemathesis.openapi.format("vn-tax-code", tax_codes())
schemathesis.openapi.format("lienthong-payment-code", payment_codes)
schemathesis.openapi.format("lienthong-cursor", cursors)


def birth_year(citizen_id):
    g, yy = int(citizen_id[3]), int(citizen_id[4:6])
    return 1900 + 100 * (g // 2) + yy


def is_positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def fix_schema_valid(oid, body, headers, query):
    """What a schema-valid request also keeps to: the rules across fields and the deployment's own
    values (see the module's doc)."""
    if oid in ("verifyCitizen", "lookupCitizen") and body:
        cid = body.get("citizen_id")
        if isinstance(cid, str) and len(cid) == 12 and cid.isdigit():
            year = birth_year(cid)
            this_year = datetime.date.today().year
            if year > this_year:
                # Born this year at the latest: the century digit and YY of a past year.
                year = 2000 + int(cid[4:6]) % (this_year - 1999)
                g = 2 + int(cid[3]) % 2
                cid = cid[:3] + str(g) + "%02d" % (year % 100) + cid[6:]
                body["citizen_id"] = cid
            dob = body.get("date_of_birth")
            if isinstance(dob, str) and len(dob) == 10:
                day = dob[5:]
                if day == "02-29":
                    day = "02-28"
                body["date_of_birth"] = "%04d-%s" % (year, day)
            else:
                body["date_of_birth"] = "%04d" % year
    if oid == "createPayment" and body:
        body.pop("agency", None)
        items = body.get("items")
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            low = 5000 if body.get("provider") == "vnpay" else 1
            amount = body.get("amount_vnd")
            amount = amount if isinstance(amount, int) else low
            amount = min(max(amount, low, len(items)), 999999999)
            for item in items:
                item["amount_vnd"] = 1
            items[0]["amount_vnd"] = amount - (len(items) - 1)
            body["amount_vnd"] = amount
    if oid in ("createShipment", "quoteShipment") and body:
        body.pop("agency", None)
    if oid == "issueToken" and body:
        body.pop("scope", None)
    if oid in ("bankCredit", "collectionPay") and body:
        # Not in the future.
        field = "credited_at" if oid == "bankCredit" else "paid_at"
        if field in body:
            past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
            body[field] = past.strftime("%Y-%m-%dT%H:%M:%SZ")
    if oid == "usageReport" and isinstance(query, dict):
        # A period of at most 731 days, `from` first.
        query["from"], query["to"] = "2026-01-01", "2026-01-31"
    if oid == "startMaintenance" and body:
        # In the future, at most 30 days ahead.
        until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        body["until"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    if oid in ("createPayment", "createShipment"):
        # A key names one request: a schema-valid request is a new one, with a key of its own.
        headers["Idempotency-Key"] = '"%s"' % uuid.uuid4()


@schemathesis.hook
def before_call(ctx, case, kwargs):
    oid = case.operation.definition.raw.get("operationId")
    if case.headers is None:
        case.headers = {}
    body = case.body if isinstance(case.body, dict) else None
    if is_positive(case):
        fix_schema_valid(oid, body, case.headers, case.query)
    signed = ("collectionInquiry", "collectionPay", "collectionReverse", "bankCredit")
    sent = case.headers.get("Lienthong-Signature")
    # Only a well-formed signature is replaced by the right one: a malformed one is what a
    # schema-invalid request is testing.
    if oid in signed and body is not None and sent is not None and SIGNATURE_FORM.match(str(sent)):
        # Signed as the demo bank signs, over the body's bytes as they are sent (requests' json=).
        raw = json.dumps(body, allow_nan=False).encode()
        t = int(time.time())
        mac = hmac.new(BANK_SECRET, b"%d." % t + raw, hashlib.sha256).hexdigest()
        case.headers["Lienthong-Signature"] = "t=%d,v1=%s" % (t, mac)
