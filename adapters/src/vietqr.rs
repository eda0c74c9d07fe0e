//! VietQR: NAPAS's national QR for interbank transfers, an EMVCo merchant-presented QR payload
//! (TLV: a two-digit id, a two-digit length, the value).
//!
//! The fields used (see `UPSTREAMS.md`, §8): `00` payload format `01`; `01` point of initiation
//! `11` static or `12` dynamic (with an amount); `38` merchant account information = {`00` GUID
//! `A000000727`, `01` beneficiary = {`00` acquirer BIN, `01` account or card number}, `02` service
//! code `QRIBFTTA` (to an account) or `QRIBFTTC` (to a card)}; `53` currency `704`; `54` amount
//! (VND, no decimals); `58` country `VN`; `62` additional data = {`08` purpose, at most 25
//! characters}; `63` CRC-16/CCITT-FALSE over everything before its value, `6304` included, as four
//! upper-case hex digits.
//!
//! [`TransferQr::payload`] writes a payload and [`decode`] reads one back, checking its structure
//! and its CRC (what a banking app does when it scans the code, and what the tests and the bank
//! mock do).

use std::fmt::Write as _;

/// NAPAS's application identifier in tag `38/00`.
pub const NAPAS_GUID: &str = "A000000727";
/// Service code of a transfer to an account.
pub const TO_ACCOUNT: &str = "QRIBFTTA";
/// Service code of a transfer to a card.
pub const TO_CARD: &str = "QRIBFTTC";
/// ISO 4217 numeric code of the Vietnamese đồng.
pub const VND: &str = "704";
/// The longest purpose (`62/08`) NAPAS takes.
pub const MAX_PURPOSE: usize = 25;

/// A VietQR transfer: where the money goes, how much, and the message the payer's bank puts in
/// the transfer's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferQr {
    /// The beneficiary bank's six-digit acquirer BIN (e.g. `970415`, VietinBank).
    pub acquirer_bin: String,
    /// The beneficiary's account (or card) number.
    pub account_no: String,
    /// To a card (`QRIBFTTC`) rather than an account (`QRIBFTTA`).
    pub to_card: bool,
    /// The amount in VND; with it the code is dynamic (`01` = `12`), without it static (`11`).
    pub amount_vnd: Option<u64>,
    /// The purpose (`62/08`): printable ASCII, at most [`MAX_PURPOSE`] characters.
    pub purpose: Option<String>,
}

/// Why a VietQR payload cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VietQrError {
    /// A field to write is out of its form; names the field.
    #[error("{field}: {reason}")]
    Field {
        /// The field (`acquirer_bin`, `account_no`, `amount_vnd`, `purpose`).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The payload is not a well-formed TLV sequence.
    #[error("not a VietQR payload: {0}")]
    Malformed(&'static str),
    /// The CRC (tag `63`) does not match the payload.
    #[error("the CRC does not match the payload")]
    Crc,
    /// A well-formed EMVCo payload that is not a VietQR transfer; names the tag at fault.
    #[error("not a VietQR transfer: tag {tag} {reason}")]
    NotATransfer {
        /// The tag (`00`, `38`, `38/00`, …).
        tag: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

const CRC16_CCITT_FALSE: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor), as EMVCo QR codes
/// use it.
pub fn crc16(data: &[u8]) -> u16 {
    CRC16_CCITT_FALSE.checksum(data)
}

impl TransferQr {
    /// The payload to put in the QR code.
    pub fn payload(&self) -> Result<String, VietQrError> {
        self.check()?;
        let mut beneficiary = String::new();
        tlv(&mut beneficiary, "00", &self.acquirer_bin);
        tlv(&mut beneficiary, "01", &self.account_no);
        let mut merchant = String::new();
        tlv(&mut merchant, "00", NAPAS_GUID);
        tlv(&mut merchant, "01", &beneficiary);
        tlv(
            &mut merchant,
            "02",
            if self.to_card { TO_CARD } else { TO_ACCOUNT },
        );

        let mut out = String::new();
        tlv(&mut out, "00", "01");
        tlv(
            &mut out,
            "01",
            if self.amount_vnd.is_some() {
                "12"
            } else {
                "11"
            },
        );
        tlv(&mut out, "38", &merchant);
        tlv(&mut out, "53", VND);
        if let Some(amount) = self.amount_vnd {
            tlv(&mut out, "54", &amount.to_string());
        }
        tlv(&mut out, "58", "VN");
        if let Some(purpose) = &self.purpose {
            let mut additional = String::new();
            tlv(&mut additional, "08", purpose);
            tlv(&mut out, "62", &additional);
        }
        out.push_str("6304");
        let crc = crc16(out.as_bytes());
        let _ = write!(out, "{crc:04X}");
        Ok(out)
    }

    fn check(&self) -> Result<(), VietQrError> {
        let field = |field, reason| Err(VietQrError::Field { field, reason });
        if self.acquirer_bin.len() != 6 || !self.acquirer_bin.bytes().all(|b| b.is_ascii_digit()) {
            return field("acquirer_bin", "must be 6 digits");
        }
        if self.account_no.is_empty()
            || self.account_no.len() > 19
            || !self.account_no.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return field("account_no", "must be 1 to 19 letters or digits");
        }
        if let Some(amount) = self.amount_vnd
            && (amount == 0 || amount > 9_999_999_999_999)
        {
            return field("amount_vnd", "must be from 1 to 13 digits");
        }
        if let Some(purpose) = &self.purpose
            && (purpose.is_empty()
                || purpose.len() > MAX_PURPOSE
                || !purpose.bytes().all(|b| (b' '..=b'~').contains(&b)))
        {
            return field(
                "purpose",
                "must be 1 to 25 printable ASCII characters (no diacritics)",
            );
        }
        Ok(())
    }
}

/// Appends one TLV field. Every value written here is ASCII and at most 99 characters long,
/// checked before.
fn tlv(out: &mut String, id: &str, value: &str) {
    let _ = write!(out, "{id}{:02}{value}", value.len());
}

/// The fields of one TLV level, in order: `(id, value)`.
fn fields(data: &str) -> Result<Vec<(&str, &str)>, VietQrError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let head = rest
            .get(..4)
            .ok_or(VietQrError::Malformed("a field is cut short"))?;
        if !head.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VietQrError::Malformed(
                "an id or a length is not two digits",
            ));
        }
        let (id, len) = head.split_at(2);
        let len: usize = len
            .parse()
            .map_err(|_| VietQrError::Malformed("a length is not two digits"))?;
        let value = rest
            .get(4..4 + len)
            .ok_or(VietQrError::Malformed("a value runs past the end"))?;
        out.push((id, value));
        rest = &rest[4 + len..];
    }
    Ok(out)
}

fn one<'a>(fields: &[(&'a str, &'a str)], id: &str) -> Option<&'a str> {
    fields.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
}

/// Reads a VietQR transfer payload: its CRC first, then its structure and the fields of a
/// transfer.
pub fn decode(payload: &str) -> Result<TransferQr, VietQrError> {
    if !payload.is_ascii() {
        return Err(VietQrError::Malformed("it holds characters outside ASCII"));
    }
    let top = fields(payload)?;
    // The CRC is the last field, over everything before its value.
    match top.last() {
        Some(("63", crc)) if crc.len() == 4 => {
            let covered = &payload[..payload.len() - 4];
            let expected = format!("{:04X}", crc16(covered.as_bytes()));
            if !crc.eq_ignore_ascii_case(&expected) {
                return Err(VietQrError::Crc);
            }
        }
        _ => return Err(VietQrError::Malformed("it does not end with a CRC (6304…)")),
    }
    let not = |tag, reason| VietQrError::NotATransfer { tag, reason };
    if one(&top, "00") != Some("01") || top.first().map(|(id, _)| *id) != Some("00") {
        return Err(not("00", "must come first and be 01"));
    }
    let dynamic = match one(&top, "01") {
        Some("11") => false,
        Some("12") => true,
        _ => return Err(not("01", "must be 11 or 12")),
    };
    let merchant = fields(one(&top, "38").ok_or(not("38", "is missing"))?)?;
    if one(&merchant, "00") != Some(NAPAS_GUID) {
        return Err(not("38/00", "is not NAPAS's A000000727"));
    }
    let to_card = match one(&merchant, "02") {
        Some(TO_ACCOUNT) => false,
        Some(TO_CARD) => true,
        _ => return Err(not("38/02", "must be QRIBFTTA or QRIBFTTC")),
    };
    let beneficiary = fields(one(&merchant, "01").ok_or(not("38/01", "is missing"))?)?;
    let acquirer_bin = one(&beneficiary, "00").ok_or(not("38/01/00", "is missing"))?;
    let account_no = one(&beneficiary, "01").ok_or(not("38/01/01", "is missing"))?;
    if one(&top, "53") != Some(VND) {
        return Err(not("53", "must be 704 (VND)"));
    }
    if one(&top, "58") != Some("VN") {
        return Err(not("58", "must be VN"));
    }
    let amount_vnd = match one(&top, "54") {
        Some(amount) if !amount.is_empty() && amount.bytes().all(|b| b.is_ascii_digit()) => {
            Some(amount.parse().map_err(|_| not("54", "is too large"))?)
        }
        Some(_) => return Err(not("54", "must be whole đồng, digits only")),
        None => None,
    };
    if dynamic != amount_vnd.is_some() {
        return Err(not("01", "12 goes with an amount (54), 11 without"));
    }
    let purpose = match one(&top, "62") {
        Some(additional) => one(&fields(additional)?, "08").map(str::to_owned),
        None => None,
    };
    let qr = TransferQr {
        acquirer_bin: acquirer_bin.to_owned(),
        account_no: account_no.to_owned(),
        to_card,
        amount_vnd,
        purpose,
    };
    qr.check()
        .map_err(|_| not("38", "holds a BIN, account or purpose out of form"))?;
    Ok(qr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> TransferQr {
        TransferQr {
            acquirer_bin: "970415".into(),
            account_no: "1234567890".into(),
            to_card: false,
            amount_vnd: Some(50_000),
            purpose: Some("LT7K2MQ9XD".into()),
        }
    }

    #[test]
    fn the_crc_is_ccitt_false() {
        // The standard check value of CRC-16/CCITT-FALSE.
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn a_payload_has_the_fields_in_order_and_its_crc() {
        let payload = demo().payload().unwrap();
        let body = "000201010212\
            38540010A00000072701240006970415011012345678900208QRIBFTTA\
            5303704540550000\
            5802VN\
            62140810LT7K2MQ9XD\
            6304";
        assert!(payload.starts_with(body), "{payload}");
        assert_eq!(payload.len(), body.len() + 4);
        let crc = &payload[body.len()..];
        assert_eq!(crc, format!("{:04X}", crc16(body.as_bytes())));
        assert_eq!(crc, crc.to_uppercase());
        assert_eq!(decode(&payload).unwrap(), demo());
    }

    #[test]
    fn a_static_code_has_no_amount() {
        let qr = TransferQr {
            amount_vnd: None,
            purpose: None,
            ..demo()
        };
        let payload = qr.payload().unwrap();
        assert!(payload.starts_with("000201010211"), "{payload}");
        assert!(!payload.contains("5405"));
        assert_eq!(decode(&payload).unwrap(), qr);
    }

    #[test]
    fn a_changed_character_fails_the_crc() {
        let payload = demo().payload().unwrap();
        let tampered = payload.replacen("50000", "90000", 1);
        assert_eq!(decode(&tampered), Err(VietQrError::Crc));
    }

    #[test]
    fn fields_out_of_form_are_named() {
        let cases = [
            (
                TransferQr {
                    acquirer_bin: "97041".into(),
                    ..demo()
                },
                "acquirer_bin",
            ),
            (
                TransferQr {
                    account_no: "12 34".into(),
                    ..demo()
                },
                "account_no",
            ),
            (
                TransferQr {
                    amount_vnd: Some(0),
                    ..demo()
                },
                "amount_vnd",
            ),
            (
                TransferQr {
                    purpose: Some("Lệ phí".into()),
                    ..demo()
                },
                "purpose",
            ),
            (
                TransferQr {
                    purpose: Some("X".repeat(26)),
                    ..demo()
                },
                "purpose",
            ),
        ];
        for (qr, named) in cases {
            match qr.payload() {
                Err(VietQrError::Field { field, .. }) => assert_eq!(field, named),
                other => panic!("{named}: {other:?}"),
            }
        }
    }

    #[test]
    fn broken_payloads_are_refused_without_panicking() {
        let payload = demo().payload().unwrap();
        for cut in 0..payload.len() {
            assert!(decode(&payload[..cut]).is_err(), "cut at {cut}");
        }
        for bad in [
            "", "00", "0002", "00020163", "6304ABCD", "x0020101", "000201é",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn another_scheme_is_not_a_transfer() {
        // The same structure with another GUID, and its CRC made right.
        let payload = demo().payload().unwrap();
        let body = payload[..payload.len() - 4].replace(NAPAS_GUID, "A000000999");
        let other = format!("{body}{:04X}", crc16(body.as_bytes()));
        assert_eq!(
            decode(&other),
            Err(VietQrError::NotATransfer {
                tag: "38/00",
                reason: "is not NAPAS's A000000727"
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "\\PC{0,200}") {
            let _ = decode(&text);
        }

        #[test]
        fn every_payload_written_reads_back_the_same(
            bin in "[0-9]{6}",
            account in "[0-9A-Z]{1,19}",
            to_card in proptest::bool::ANY,
            amount in proptest::option::of(1u64..=9_999_999_999_999),
            purpose in proptest::option::of("[ -~]{1,25}"),
        ) {
            let qr = TransferQr { acquirer_bin: bin, account_no: account, to_card, amount_vnd: amount, purpose };
            let payload = qr.payload().unwrap();
            proptest::prop_assert_eq!(decode(&payload).unwrap(), qr);
        }
    }
}
