#!/usr/bin/env python3
"""Regenerates the VNPay golden messages from first principles (Python's hmac/hashlib), so that
they never come from the Rust code they test. Run from this folder: python3 generate.py"""
import hashlib
import hmac
import json
from collections import OrderedDict

SECRET = "demo-vnpay-secret"
TMN = "DEMO0001"


def php_urlencode(s: str) -> str:
    """PHP urlencode: A-Z a-z 0-9 - _ . kept, space -> '+', every other byte -> %XX (upper case)."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if b < 128 and (c.isalnum() or c in "-_."):
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def canonical(params: dict) -> str:
    keys = sorted(k for k in params if k.startswith("vnp_") and k not in ("vnp_SecureHash", "vnp_SecureHashType") and params[k] != "")
    return "&".join(php_urlencode(k) + "=" + php_urlencode(params[k]) for k in keys)


def hmac512(secret: str, msg: str) -> str:
    return hmac.new(secret.encode(), msg.encode("utf-8"), hashlib.sha512).hexdigest()


def signed_query(params: dict) -> str:
    h = hmac512(SECRET, canonical(params))
    keys = sorted(k for k in params if params[k] != "")
    return "&".join(php_urlencode(k) + "=" + php_urlencode(params[k]) for k in keys) + "&vnp_SecureHash=" + h


def pipe(values) -> str:
    return hmac512(SECRET, "|".join(values))


def dump(name, obj):
    with open(name, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


pay = OrderedDict(
    vnp_Version="2.1.0",
    vnp_Command="pay",
    vnp_TmnCode=TMN,
    vnp_Amount="5000000",
    vnp_BankCode="NCB",
    vnp_CreateDate="20260101080000",
    vnp_ExpireDate="20991231235959",
    vnp_CurrCode="VND",
    vnp_IpAddr="127.0.0.1",
    vnp_Locale="vn",
    vnp_OrderInfo="Thanh toan le phi ho so HS000123",
    vnp_OrderType="other",
    vnp_ReturnUrl="http://127.0.0.1:8080/v1/providers/vnpay/return",
    vnp_TxnRef="HS000123-01",
)
ipn = OrderedDict(
    vnp_Amount="5000000",
    vnp_BankCode="NCB",
    vnp_BankTranNo="VNP14000000",
    vnp_CardType="ATM",
    vnp_OrderInfo="Thanh toan le phi ho so HS000123",
    vnp_PayDate="20260101081500",
    vnp_ResponseCode="00",
    vnp_TmnCode=TMN,
    vnp_TransactionNo="14000000",
    vnp_TransactionStatus="00",
    vnp_TxnRef="HS000123-01",
    vnp_SecureHashType="HmacSHA512",
)

edge_cases = [
    ("vietnamese_order_info", dict(pay, vnp_OrderInfo="Thanh toán lệ phí hồ sơ số HS000123 – Nguyễn Văn An")),
    ("spaces_and_plus", dict(pay, vnp_OrderInfo="  Le phi  1+1=2  ")),
    ("php_specials", dict(pay, vnp_OrderInfo="a~b*c'd(e)f!g")),
    ("reserved_chars", dict(pay, vnp_OrderInfo="x&y=z/w?v#u%t@s:r;q,p\"o<n>m")),
]

vectors = []
for name, params in [("pay_url", pay), ("ipn_query", ipn)] + edge_cases:
    c = canonical(params)
    vectors.append(OrderedDict(name=name, params=params, canonical=c, hash=hmac512(SECRET, c)))
dump("signing_vectors.json", OrderedDict(secret=SECRET, algorithm="HMAC-SHA512, lowercase hex", vectors=vectors))

with open("pay_request.query", "w") as f:
    f.write(signed_query(pay) + "\n")
with open("ipn_query.query", "w") as f:
    f.write(signed_query(ipn) + "\n")

QUERYDR_REQ = ["vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef", "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo"]
REFUND_REQ = ["vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TransactionType", "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo", "vnp_TransactionDate", "vnp_CreateBy", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo"]
REPLY = ["vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode", "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo", "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo", "vnp_PromotionCode", "vnp_PromotionAmount"]


def sign_request(req, fields):
    req["vnp_SecureHash"] = pipe([str(req.get(k, "")) for k in fields])
    return req


def sign_reply(rep):
    rep["vnp_SecureHash"] = pipe([str(rep.get(k, "")) for k in REPLY])
    return rep


querydr = sign_request(OrderedDict(
    vnp_RequestId="Q20260101090000001", vnp_Version="2.1.0", vnp_Command="querydr", vnp_TmnCode=TMN,
    vnp_TxnRef="HS000123-01", vnp_OrderInfo="Truy van giao dich HS000123-01", vnp_TransactionDate="20260101080000",
    vnp_CreateDate="20260101090000", vnp_IpAddr="127.0.0.1"), QUERYDR_REQ)
dump("querydr_request.json", querydr)
dump("querydr_response.json", sign_reply(OrderedDict(
    vnp_ResponseId="4f0c3a8e2b1d4c6f9a7e5d3b1c0f2e4a", vnp_Command="querydr", vnp_ResponseCode="00", vnp_Message="QueryDR Success",
    vnp_TmnCode=TMN, vnp_TxnRef="HS000123-01", vnp_Amount="5000000", vnp_OrderInfo="Thanh toan le phi ho so HS000123",
    vnp_BankCode="NCB", vnp_PayDate="20260101081500", vnp_TransactionNo="14000000", vnp_TransactionType="01",
    vnp_TransactionStatus="00")))
bad = OrderedDict(querydr)
bad["vnp_RequestId"] = "Q20260101090000002"
bad["vnp_SecureHash"] = hmac512("wrong-secret", "|".join(str(bad.get(k, "")) for k in QUERYDR_REQ))
dump("querydr_request_bad_checksum.json", bad)
dump("querydr_response_bad_checksum.json", sign_reply(OrderedDict(
    vnp_ResponseId="7a1b2c3d4e5f60718293a4b5c6d7e8f9", vnp_Command="querydr", vnp_ResponseCode="97", vnp_Message="Invalid Checksum",
    vnp_TmnCode=TMN, vnp_TxnRef="HS000123-01")))
refund = sign_request(OrderedDict(
    vnp_RequestId="R20260101100000001", vnp_Version="2.1.0", vnp_Command="refund", vnp_TmnCode=TMN, vnp_TransactionType="02",
    vnp_TxnRef="HS000123-01", vnp_Amount="5000000", vnp_OrderInfo="Hoan tien ho so HS000123", vnp_TransactionNo="",
    vnp_TransactionDate="20260101080000", vnp_CreateBy="canbo01", vnp_CreateDate="20260101100000", vnp_IpAddr="127.0.0.1"), REFUND_REQ)
dump("refund_request.json", refund)
dump("refund_response.json", sign_reply(OrderedDict(
    vnp_ResponseId="0b9e8d7c6b5a49382716f5e4d3c2b1a0", vnp_Command="refund", vnp_ResponseCode="00", vnp_Message="Refund success",
    vnp_TmnCode=TMN, vnp_TxnRef="HS000123-01", vnp_Amount="5000000", vnp_OrderInfo="Thanh toan le phi ho so HS000123",
    vnp_BankCode="NCB", vnp_PayDate="20260101100001", vnp_TransactionNo="14000001", vnp_TransactionType="02",
    vnp_TransactionStatus="05")))

with open("statement_request.query", "w") as f:
    f.write("tmn_code=%s&date=20260101&secure_hash=%s\n" % (TMN, pipe([TMN, "20260101"])))
