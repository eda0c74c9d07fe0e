//! The whole set of mocks, as `lienthong mocks` and `serve --demo` run them: one config file, one
//! seed, one data set, every system on its own documented loopback port.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::control::{Stub, Vocabulary};
use crate::data::Dataset;
use crate::{StartedSystem, bank, enterprise, notary, payment_platform, population, vnpay, vnpost};

/// The mocks config file (TOML). Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocksConfig {
    /// Seed of the generated data and of random latency and error rates (default 42).
    pub seed: u64,
    /// Address the mocks listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// How many citizens to generate besides the well-known ones (default 1000).
    pub citizens: usize,
    /// How many enterprises to generate besides the well-known ones (default 200).
    pub enterprises: usize,
    /// A tester's own records (JSON or CSV, see docs/mock-data.md), added to the generated ones.
    pub data_file: Option<PathBuf>,
    /// Port of each system; 0 picks a free port.
    pub ports: Ports,
    /// National population database settings.
    pub population: population::Settings,
    /// Enterprise registry settings.
    pub enterprise: enterprise::Settings,
    /// Notary records settings.
    pub notary: notary::Settings,
    /// VNPay settings.
    pub vnpay: vnpay::Settings,
    /// National payment platform settings.
    pub payment_platform: payment_platform::Settings,
    /// VNPost settings.
    pub vnpost: vnpost::Settings,
    /// The partner bank collecting fees by payment code.
    pub bank: bank::Settings,
    /// Start-up stubs by system name (`[[stubs.population]]`…), put back by every reset.
    pub stubs: BTreeMap<String, Vec<Stub>>,
}

/// The port of each system.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ports {
    /// Integration platform catalogue (default 18100).
    pub catalogue: u16,
    /// Population database (default 18101).
    pub population: u16,
    /// Enterprise registry (default 18102).
    pub enterprise: u16,
    /// Notary records (default 18103).
    pub notary: u16,
    /// VNPay (default 18104).
    pub vnpay: u16,
    /// National payment platform (default 18105).
    pub payment_platform: u16,
    /// VNPost (default 18106).
    pub vnpost: u16,
    /// The partner bank (default 18107).
    pub bank: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            catalogue: 18100,
            population: 18101,
            enterprise: 18102,
            notary: 18103,
            vnpay: 18104,
            payment_platform: 18105,
            vnpost: 18106,
            bank: 18107,
        }
    }
}

impl Ports {
    /// Every port 0: free ports, for tests.
    pub fn any() -> Self {
        Self::from_base(0).unwrap_or_default()
    }

    /// The eight ports from `base` on, in the order of the defaults (catalogue `base`, population
    /// `base + 1`, … VNPost `base + 6`, the bank `base + 7`); base 0 makes every port 0 (free ports). `None` when the
    /// last port would pass 65535.
    pub fn from_base(base: u16) -> Option<Self> {
        let at = |offset: u16| match base {
            0 => Some(0),
            b => b.checked_add(offset),
        };
        Some(Self {
            catalogue: at(0)?,
            population: at(1)?,
            enterprise: at(2)?,
            notary: at(3)?,
            vnpay: at(4)?,
            payment_platform: at(5)?,
            vnpost: at(6)?,
            bank: at(7)?,
        })
    }
}

impl Default for MocksConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            citizens: 1000,
            enterprises: 200,
            data_file: None,
            ports: Ports::default(),
            population: Default::default(),
            enterprise: Default::default(),
            notary: Default::default(),
            vnpay: Default::default(),
            payment_platform: Default::default(),
            vnpost: Default::default(),
            bank: Default::default(),
            stubs: BTreeMap::new(),
        }
    }
}

/// Why the mocks could not start.
#[derive(Debug, thiserror::Error)]
pub enum MocksError {
    /// The config file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The config file is not valid.
    #[error("{0}")]
    Parse(String),
    /// The tester's data file was refused.
    #[error("data file: {0}")]
    Data(String),
    /// A port could not be bound.
    #[error("{system}: cannot listen on {addr}: {source}")]
    Bind {
        /// The system.
        system: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

impl MocksConfig {
    /// Reads a mocks config file.
    pub fn load(path: &Path) -> Result<MocksConfig, MocksError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| MocksError::Read(path.to_owned(), e))?;
        toml_from_str(&text)
    }
}

fn toml_from_str(text: &str) -> Result<MocksConfig, MocksError> {
    let config: MocksConfig = toml::from_str(text).map_err(|e| MocksError::Parse(e.to_string()))?;
    config.check_faults()?;
    Ok(config)
}

impl MocksConfig {
    /// Refuses start-up fault rules naming an operation their system does not have, and stub
    /// tables naming a system there is not, naming the table and the valid names. (Each stub is
    /// checked against its system's names when the set starts.)
    pub fn check_faults(&self) -> Result<(), MocksError> {
        let tables: [(&str, Vocabulary, &[crate::FaultRule]); 6] = [
            (
                "population",
                population::VOCABULARY,
                &self.population.faults,
            ),
            (
                "enterprise",
                enterprise::VOCABULARY,
                &self.enterprise.faults,
            ),
            ("notary", notary::VOCABULARY, &self.notary.faults),
            ("vnpay", vnpay::VOCABULARY, &self.vnpay.faults),
            (
                "payment_platform",
                payment_platform::VOCABULARY,
                &self.payment_platform.faults,
            ),
            ("vnpost", vnpost::VOCABULARY, &self.vnpost.faults),
        ];
        if let Some(name) = self.stubs.keys().find(|k| !SYSTEMS.contains(&k.as_str())) {
            return Err(unknown_system(name));
        }
        for (table, vocabulary, rules) in tables {
            for (i, rule) in rules.iter().enumerate() {
                vocabulary
                    .check_operation(table, rule.operation.as_deref())
                    .map_err(|r| {
                        MocksError::Parse(format!("[[{table}.faults]] #{}: {r}", i + 1))
                    })?;
            }
        }
        Ok(())
    }
}

/// Every system's name, in the order a set starts them.
pub const SYSTEMS: [&str; 7] = [
    "catalogue",
    "population",
    "enterprise",
    "notary",
    "vnpay",
    "payment_platform",
    "vnpost",
];

fn unknown_system(name: &str) -> MocksError {
    MocksError::Parse(format!(
        "[stubs.{name}]: no system `{name}` (valid: {})",
        SYSTEMS.join(", ")
    ))
}

/// Every mock, running.
pub struct MockSet {
    /// The systems, in a fixed order.
    pub systems: Vec<StartedSystem>,
    /// The data they serve.
    pub data: Arc<Dataset>,
}

impl MockSet {
    /// Builds the data set and starts every system.
    pub async fn start(config: &MocksConfig) -> Result<MockSet, MocksError> {
        config.check_faults()?;
        let mut data = Dataset::generate(config.seed, config.citizens, config.enterprises);
        if let Some(path) = &config.data_file {
            data.load_file(path)
                .map_err(|e| MocksError::Data(e.to_string()))?;
        }
        let data = Arc::new(data);
        let addr = |port: u16| SocketAddr::new(config.bind, port);
        let bind_err = |system: &'static str, port: u16| {
            move |source| MocksError::Bind {
                system,
                addr: addr(port),
                source,
            }
        };
        let p = config.ports;
        let seed = config.seed;
        let mut systems = Vec::new();
        let catalogue_control = crate::MockControl::new("catalogue", Vec::new(), seed);
        catalogue_control.describe(crate::catalogue::VOCABULARY);
        let catalogue_router =
            catalogue_control.wrap(crate::catalogue::router(), crate::catalogue::classify);
        let catalogue = crate::spawn(catalogue_router, addr(p.catalogue))
            .await
            .map_err(bind_err("catalogue", p.catalogue))?;
        systems.push(StartedSystem {
            name: "catalogue",
            mock: catalogue,
            control: catalogue_control,
            credentials: vec![],
        });
        systems.push(
            population::start(&config.population, data.clone(), seed, addr(p.population))
                .await
                .map_err(bind_err("population", p.population))?,
        );
        systems.push(
            enterprise::start(&config.enterprise, data.clone(), seed, addr(p.enterprise))
                .await
                .map_err(bind_err("enterprise", p.enterprise))?,
        );
        systems.push(
            notary::start(&config.notary, data.clone(), seed, addr(p.notary))
                .await
                .map_err(bind_err("notary", p.notary))?,
        );
        systems.push(
            vnpay::start(&config.vnpay, data.clone(), seed, addr(p.vnpay))
                .await
                .map_err(bind_err("vnpay", p.vnpay))?,
        );
        systems.push(
            payment_platform::start(
                &config.payment_platform,
                data.clone(),
                seed,
                addr(p.payment_platform),
            )
            .await
            .map_err(bind_err("payment_platform", p.payment_platform))?,
        );
        systems.push(
            vnpost::start(&config.vnpost, data.clone(), seed, addr(p.vnpost))
                .await
                .map_err(bind_err("vnpost", p.vnpost))?,
        );
        systems.push(
            bank::start(&config.bank, data.clone(), seed, addr(p.bank))
                .await
                .map_err(bind_err("bank", p.bank))?,
        );
        for (system, stubs) in &config.stubs {
            let control = &systems
                .iter()
                .find(|s| s.name == system.as_str())
                .ok_or_else(|| unknown_system(system))?
                .control;
            control
                .set_initial_stubs(stubs.clone())
                .map_err(|r| MocksError::Parse(format!("[[stubs.{system}]]: {r}")))?;
        }
        Ok(MockSet { systems, data })
    }

    /// The system with this name.
    pub fn get(&self, name: &str) -> Option<&StartedSystem> {
        self.systems.iter().find(|s| s.name == name)
    }

    /// The table `lienthong mocks` prints: each system's URL, then what a tester needs to call it.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for s in &self.systems {
            out.push_str(&format!("{:<18} {}\n", s.name, s.mock.url()));
            for (k, v) in &s.credentials {
                out.push_str(&format!("{:<18}   {k}: {v}\n", ""));
            }
        }
        out.push_str("\nEvery system also serves /__admin: journal, journal/count, faults, scenario, reset.\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_unknown_keys() {
        let c = toml_from_str("seed = 7\n[ports]\npopulation = 0\n").unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.ports.population, 0);
        assert_eq!(c.ports.vnpay, 18104);
        assert_eq!(
            Ports::from_base(18100).unwrap().vnpost,
            Ports::default().vnpost
        );
        assert_eq!(Ports::from_base(20000).unwrap().vnpay, 20004);
        assert_eq!(Ports::from_base(0).unwrap().vnpost, 0);
        assert!(Ports::from_base(65530).is_none());
        let e = toml_from_str("sead = 7\n").unwrap_err().to_string();
        assert!(e.contains("sead"), "{e}");
    }

    #[test]
    fn a_fault_rule_naming_an_unknown_operation_is_refused() {
        let ok = "[[vnpay.faults]]\noperation = \"querydr\"\nkind = \"status\"\nstatus = 503\n";
        assert!(toml_from_str(ok).is_ok());
        let e = toml_from_str(&ok.replace("querydr", "quer_ydr"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[[vnpay.faults]] #1"), "{e}");
        assert!(
            e.contains("quer_ydr") && e.contains("querydr, refund"),
            "{e}"
        );
    }
}
