//! Shipment statuses and the paths a shipment takes through them. The status is computed from the
//! time elapsed since creation when it is read: no background task moves it.

/// The status a cancelled order ends in.
pub const CANCELLED: u16 = 22;

/// Statuses from which `CancelOrder` is allowed (created … collecting).
pub const CANCELABLE: [u16; 4] = [1, 2, 3, 4];

/// The Vietnamese name of a status code.
pub fn status_name(code: u16) -> &'static str {
    match code {
        1 => "Đã tạo đơn",
        2 => "Đã giao cho bưu tá thu gom",
        3 => "Đang xử lý",
        4 => "Đang thu gom",
        5 => "Thu gom thất bại",
        6 => "Đã thu gom",
        7 => "Đã nhận tại bưu cục gốc",
        10 => "Đang vận chuyển",
        11 => "Đã đến bưu cục phát",
        12 => "Đang phát",
        13 => "Chuyển tiếp",
        14 => "Phát thành công",
        15 => "Phát không thành công",
        16 => "Chờ chuyển hoàn",
        19 => "Hoàn tất",
        20 => "Đã chuyển hoàn",
        21 => "Đã trả tiền thu hộ (COD)",
        22 => "Đã hủy",
        _ => "Không xác định",
    }
}

/// The path a shipment takes, chosen per order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Created → … → delivered → (COD paid) → completed.
    Normal,
    /// … → delivering → delivery failed → awaiting return → returned.
    FailDelivery,
    /// … → collecting → collection failed.
    FailCollection,
    /// … → delivering → cancelled.
    CancelDelivery,
    /// … → arrived → forwarded → delivering → delivered → completed.
    Forward,
    /// Stays created for ever.
    Stuck,
}

impl Scenario {
    /// Every scenario with its name (the `#name` marker in `CustomerNote`).
    pub const ALL: [(Scenario, &'static str); 6] = [
        (Scenario::Normal, "normal"),
        (Scenario::FailDelivery, "fail-delivery"),
        (Scenario::FailCollection, "fail-collection"),
        (Scenario::CancelDelivery, "cancel-delivery"),
        (Scenario::Forward, "forward"),
        (Scenario::Stuck, "stuck"),
    ];

    /// The scenario of a name.
    pub fn from_name(name: &str) -> Option<Scenario> {
        let name = name.trim().trim_start_matches('#');
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(s, _)| *s)
    }

    /// Every name, for refusals.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, n)| *n).collect()
    }

    /// The scenario named by a `#marker` in a customer note, if any.
    pub fn from_note(note: &str) -> Option<Scenario> {
        note.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .filter(|w| w.starts_with('#'))
            .find_map(Scenario::from_name)
    }

    /// The name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .unwrap_or("normal")
    }

    /// The statuses, in order; `with_cod` adds "COD paid" before "completed".
    pub fn plan(self, with_cod: bool) -> Vec<u16> {
        const COLLECTED: [u16; 8] = [1, 2, 3, 4, 6, 7, 10, 11];
        let mut p = Vec::with_capacity(14);
        match self {
            Scenario::Normal | Scenario::Forward => {
                p.extend(COLLECTED);
                if self == Scenario::Forward {
                    p.push(13);
                }
                p.extend([12, 14]);
                if with_cod {
                    p.push(21);
                }
                p.push(19);
            }
            Scenario::FailDelivery => {
                p.extend(COLLECTED);
                p.extend([12, 15, 16, 20]);
            }
            Scenario::FailCollection => p.extend([1, 2, 3, 4, 5]),
            Scenario::CancelDelivery => {
                p.extend(COLLECTED);
                p.extend([12, CANCELLED]);
            }
            Scenario::Stuck => p.push(1),
        }
        p
    }
}

/// Where a status happens: the sender's side, the carrier's sorting centres, or the receiver's side.
pub fn post_office(
    code: u16,
    sender_province: &str,
    sender_district: &str,
    receiver_province: &str,
    receiver_district: &str,
) -> Option<String> {
    match code {
        1 => None,
        2..=7 | 20 => Some(format!("Bưu cục {sender_district}")),
        10 => Some(format!("Trung tâm khai thác {sender_province}")),
        13 => Some(format!("Trung tâm khai thác {receiver_province}")),
        _ => Some(format!("Bưu cục {receiver_district}")),
    }
}

/// How far along its plan (index, from 0) a shipment is after `simulated_s` simulated seconds,
/// with one step every `step_s` simulated seconds (0: straight to the end).
pub fn index_at(simulated_s: f64, step_s: u64, plan_len: usize) -> usize {
    let last = plan_len.saturating_sub(1);
    if step_s == 0 {
        return last;
    }
    let steps = (simulated_s.max(0.0) / step_s as f64).floor();
    if steps >= last as f64 {
        last
    } else {
        steps as usize
    }
}

/// Checks the scenario state's values: `clock_offset_s` a finite number, `default_scenario` and
/// every value of `order_scenarios` (an object by order code) a scenario name.
pub(crate) fn check_scenario(v: &serde_json::Value) -> Result<(), String> {
    let known =
        |what: &str, name: &serde_json::Value| match name.as_str().and_then(Scenario::from_name) {
            Some(_) => Ok(()),
            None => Err(format!(
                "vnpost scenario: {what} must be one of {}, not {name}",
                Scenario::names().join(", ")
            )),
        };
    if let Some(offset) = v.get("clock_offset_s")
        && !offset.as_f64().is_some_and(f64::is_finite)
    {
        return Err("vnpost scenario: clock_offset_s must be a number of seconds".into());
    }
    if let Some(name) = v.get("default_scenario") {
        known("default_scenario", name)?;
    }
    match v.get("order_scenarios") {
        None => Ok(()),
        Some(serde_json::Value::Object(by_code)) => by_code
            .iter()
            .try_for_each(|(code, name)| known(&format!("order_scenarios.{code}"), name)),
        Some(_) => Err(
            "vnpost scenario: order_scenarios must be an object of order code → scenario name"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_and_markers() {
        assert_eq!(
            Scenario::Normal.plan(false),
            vec![1, 2, 3, 4, 6, 7, 10, 11, 12, 14, 19]
        );
        assert_eq!(
            Scenario::Normal.plan(true),
            vec![1, 2, 3, 4, 6, 7, 10, 11, 12, 14, 21, 19]
        );
        assert_eq!(*Scenario::FailDelivery.plan(false).last().unwrap(), 20);
        assert_eq!(Scenario::FailCollection.plan(true), vec![1, 2, 3, 4, 5]);
        assert_eq!(
            Scenario::from_note("Giao giờ hành chính #fail-delivery"),
            Some(Scenario::FailDelivery)
        );
        assert_eq!(
            Scenario::from_note("#FORWARD, gọi trước"),
            Some(Scenario::Forward)
        );
        assert_eq!(Scenario::from_note("không có # đánh dấu"), None);
        assert_eq!(Scenario::from_name("stuck"), Some(Scenario::Stuck));
        for (s, n) in Scenario::ALL {
            assert_eq!(s.name(), n);
            for c in s.plan(true) {
                assert_ne!(status_name(c), "Không xác định");
            }
        }
    }

    #[test]
    fn index() {
        assert_eq!(index_at(0.0, 3600, 11), 0);
        assert_eq!(index_at(3599.9, 3600, 11), 0);
        assert_eq!(index_at(3600.0, 3600, 11), 1);
        assert_eq!(index_at(1e12, 3600, 11), 10);
        assert_eq!(index_at(-5.0, 3600, 11), 0);
        assert_eq!(index_at(5.0, 0, 11), 10);
    }
}
