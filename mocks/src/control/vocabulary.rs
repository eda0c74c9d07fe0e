//! What a system accepts in fault rules, stubs and scenario state: its operation names and its
//! scenario keys. A rule naming an operation the system does not have would never fire, and a
//! misspelled scenario key would be ignored, so both are refused when set, naming the valid ones.

use serde_json::Value;

/// Checks the values of a whole scenario state, answering what is wrong.
pub type ScenarioCheck = fn(&Value) -> Result<(), String>;

/// The names a system declares (see [`super::MockControl::describe`]).
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary {
    /// Every operation name the system's classifier gives (as in the journal).
    pub operations: &'static [&'static str],
    /// Every key of the system's scenario state (`PUT /__admin/scenario`); empty when it has none.
    pub scenario_keys: &'static [&'static str],
    /// Checks the values of a whole scenario state (the keys are already known to be valid).
    pub check_scenario: Option<ScenarioCheck>,
    /// How stub replies given as fields are written.
    pub reply_format: super::stubs::ReplyFormat,
}

/// Why a rule or a scenario was refused: a stable code, a sentence, and the valid names when the
/// refusal is about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code: `unknown_operation`, `unknown_scenario_key`, `invalid_scenario`, `invalid_rule`.
    pub code: &'static str,
    /// What is wrong, naming the offending value.
    pub detail: String,
    /// The names that would have been accepted.
    pub valid: Vec<&'static str>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl Refusal {
    /// A refusal that lists no names.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            code,
            detail: detail.into(),
            valid: Vec::new(),
        }
    }
}

impl Vocabulary {
    /// Refuses an operation name the system does not have; `None` (every operation) is valid.
    pub fn check_operation(&self, system: &str, operation: Option<&str>) -> Result<(), Refusal> {
        match operation {
            Some(op) if !self.operations.contains(&op) => Err(Refusal {
                code: "unknown_operation",
                detail: format!(
                    "{system} has no operation `{op}` (valid: {})",
                    self.operations.join(", ")
                ),
                valid: self.operations.to_vec(),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses unknown keys in a scenario patch, then checks the state it would give.
    pub fn check_scenario(
        &self,
        system: &str,
        patch: &serde_json::Map<String, Value>,
        merged: &Value,
    ) -> Result<(), Refusal> {
        if let Some(key) = patch
            .keys()
            .find(|k| !self.scenario_keys.contains(&k.as_str()))
        {
            let valid = if self.scenario_keys.is_empty() {
                "none: this system has no scenario state".to_owned()
            } else {
                self.scenario_keys.join(", ")
            };
            return Err(Refusal {
                code: "unknown_scenario_key",
                detail: format!("{system} has no scenario key `{key}` (valid: {valid})"),
                valid: self.scenario_keys.to_vec(),
            });
        }
        match self.check_scenario {
            Some(check) => check(merged).map_err(|e| Refusal::invalid("invalid_scenario", e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const V: Vocabulary = Vocabulary {
        operations: &["querydr", "refund"],
        scenario_keys: &["ipn_mode"],
        check_scenario: None,
        reply_format: crate::control::stubs::ReplyFormat::Json,
    };

    #[test]
    fn unknown_names_are_refused_listing_the_valid_ones() {
        assert!(V.check_operation("vnpay", None).is_ok());
        assert!(V.check_operation("vnpay", Some("refund")).is_ok());
        let e = V.check_operation("vnpay", Some("quer_ydr")).unwrap_err();
        assert_eq!(e.code, "unknown_operation");
        assert!(e.detail.contains("quer_ydr") && e.detail.contains("querydr, refund"));
        assert_eq!(e.valid, ["querydr", "refund"]);
        let patch = json!({"ipn_mod": "none"});
        let e = V
            .check_scenario("vnpay", patch.as_object().unwrap(), &patch)
            .unwrap_err();
        assert_eq!(e.code, "unknown_scenario_key");
        assert!(e.detail.contains("ipn_mod") && e.detail.contains("ipn_mode"));
    }
}
