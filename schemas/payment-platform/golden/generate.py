#!/usr/bin/env python3
"""Regenerates the payment platform's golden messages with Python's hashlib, independently of the
Rust code they test. Run from this folder: python3 generate.py"""
import hashlib
import json
from collections import OrderedDict

KEY = "demo-ptt-hashkey"
PARTNER = "DEMO-HUE"

INIT = ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan", "MaKenhThanhToan", "MaThietBi",
        "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich", "ThoiGianGD", "Ip"]
GETBILL = ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"]
CONFIRM = ["LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich", "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich"]
GETBILL_REPLY = CONFIRM + ["TrangThaiGD"]
SHORT = ["MaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD"]


def text(v):
    return "" if v is None else str(v)


def mac(msg, fields, key=KEY):
    raw = "|".join(text(msg.get(k)) for k in fields) + "|" + key
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def signed(msg, fields, key=KEY):
    msg["MaXacThuc"] = mac(msg, fields, key)
    return msg


def dump(name, obj):
    with open(name, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


init = signed(OrderedDict(
    LoaiBanTin="Init", PhienBan="1.0.6", MaDoiTac=PARTNER, MaThamChieu="HS000123TT01", SoTien="50000",
    LoaiHinhThanhToan="PAY", MaKenhThanhToan="1", MaThietBi="1", NgonNgu="vi", MaTienTe="VND", MaNganHang="PAYMENT",
    ThongTinGiaoDich="Thanh toán lệ phí hồ sơ HS000123", ThoiGianGD="20260101080000", Ip="127.0.0.1",
    ThongTinBienLai=OrderedDict(
        MaHoSo="HS000123", MaTTHC="1.000894", TenTTHC="Chứng thực bản sao từ bản chính", MaDVC="1.000894.01",
        MaDonVi="000.00.00.H57", TenDonVi="UBND phường Thuận Hóa", HoTenNguoiNop="Nguyễn Văn An",
        SoCMNDNguoiNop="046090001234", DiaChiNguoiNop="Thừa Thiên Huế", NoiDungThanhToan="Thanh toán lệ phí hồ sơ HS000123",
        PhiLePhi=[OrderedDict(LoaiPhiLePhi="LePhi", MaPhiLePhi="1.000894.01", TenPhiLePhi="Lệ phí chứng thực", SoTien="50000")],
    )), INIT)
dump("init_request.json", init)
inner = signed(OrderedDict(MaLoi="00", MoTaLoi="Thành công", MaDoiTac=PARTNER, MaThamChieu="HS000123TT01",
                           ThoiGianGD="20260101080000", UrlThanhToan="http://127.0.0.1:9005/pay/HS000123TT01?MaDoiTac=DEMO-HUE"), SHORT)
dump("init_response.json", OrderedDict(error_code="0", message=json.dumps(inner, ensure_ascii=False, separators=(",", ":"))))

bad = OrderedDict(init)
bad["MaThamChieu"] = "HS000123TT02"
bad["MaXacThuc"] = mac(bad, INIT, "wrong-key")
dump("init_request_bad_signature.json", bad)
err = signed(OrderedDict(MaLoi="01", MoTaLoi="Sai mã xác thực (MaXacThuc)", MaDoiTac=PARTNER, MaThamChieu="HS000123TT02",
                         ThoiGianGD="20260101080000"), SHORT)
dump("init_response_bad_signature.json", OrderedDict(error_code="01", message=json.dumps(err, ensure_ascii=False, separators=(",", ":"))))

getbill = signed(OrderedDict(LoaiBanTin="GetBill", PhienBan="1.0.6", MaDoiTac=PARTNER, MaThamChieu="HS000123TT01",
                             ThoiGianGD="20260101080000"), GETBILL)
dump("getbill_request.json", getbill)
dump("getbill_response_pending.json", signed(OrderedDict(
    LoaiBanTin="GetBill", MaLoi="00", MoTaLoi="Thành công", MaDoiTac=PARTNER, MaThamChieu="HS000123TT01", SoTien=50000,
    MaTienTe="VND", MaGiaoDich="", MaNganHang="PAYMENT", ThoiGianGD="20260101080000",
    ThongTinGiaoDich="Thanh toán lệ phí hồ sơ HS000123", TrangThaiGD="3"), GETBILL_REPLY))
dump("getbill_response_paid.json", signed(OrderedDict(
    LoaiBanTin="GetBill", MaLoi="00", MoTaLoi="Thành công", MaDoiTac=PARTNER, MaThamChieu="HS000123TT01", SoTien=50000,
    MaTienTe="VND", MaGiaoDich="250000000", MaNganHang="VCB", ThoiGianGD="20260101081500",
    ThongTinGiaoDich="Thanh toán lệ phí hồ sơ HS000123", TrangThaiGD="1"), GETBILL_REPLY))
confirm = signed(OrderedDict(
    LoaiBanTin="Confirm", MaLoi="00", MaDoiTac=PARTNER, MaThamChieu="HS000123TT01", SoTien=50000, MaTienTe="VND",
    MaGiaoDich="250000000", MaNganHang="VCB", ThoiGianGD="20260101081500",
    ThongTinGiaoDich="Thanh toán lệ phí hồ sơ HS000123"), CONFIRM)
dump("confirm_callback.json", confirm)
dump("confirm_reply.json", signed(OrderedDict(MaLoi="00", MoTaLoi="Thành công", MaDoiTac=PARTNER, MaThamChieu="HS000123TT01",
                                              ThoiGianGD="20260101081500"), SHORT))

vectors = []
for name, msg, fields in [("init", init, INIT), ("getbill", getbill, GETBILL), ("confirm", confirm, CONFIRM),
                          ("confirm_reply", json.load(open("confirm_reply.json")), SHORT)]:
    vectors.append(OrderedDict(name=name, fields=fields,
                               signed_text="|".join(text(msg.get(k)) for k in fields) + "|" + KEY,
                               ma_xac_thuc=mac(msg, fields)))
dump("signing_vectors.json", OrderedDict(hash_key=KEY, algorithm="SHA-256 of UTF-8 text, lowercase hex", vectors=vectors))
