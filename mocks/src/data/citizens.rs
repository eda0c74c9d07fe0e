//! The seeded generator and its citizens: households of realistic Vietnamese families, mostly in
//! Huế, with ids, names, addresses and relatives that agree with each other.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::codes;
use super::ids;
use super::model::{Address, Citizen, CodeName, Date, Household, Relative, Sex, days_in_month};
use super::names::{self, one_of, weighted};
use super::places::{self, Ward, WardKind};
use super::{Enterprise, REFERENCE_DATE};

/// Where generated people live (old province code, weight): Huế about 60 %.
pub(crate) const RESIDENCE: &[(&str, u32)] = &[
    ("46", 60),
    ("01", 10),
    ("79", 9),
    ("48", 7),
    ("45", 6),
    ("49", 5),
    ("40", 3),
];

/// The last year anyone generated can be born in (the data set's "today" is 2026-01-01).
const LAST_BIRTH_YEAR: i32 = REFERENCE_DATE.year - 1;

/// The seeded generator: one ChaCha8 stream, the ids handed out so far, wards by province.
pub(crate) struct Gen {
    pub(crate) rng: ChaCha8Rng,
    used_ids: HashSet<String>,
    used_old_ids: HashSet<String>,
    used_households: HashSet<String>,
    pub(crate) used_codes: HashSet<String>,
    pub(crate) used_enterprise_ids: HashSet<String>,
    pub(crate) used_names: HashSet<String>,
    pub(crate) used_representatives: HashSet<String>,
    wards: Vec<(&'static str, Vec<&'static Ward>)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Couple,
    Nuclear,
    ThreeGenerations,
    SingleParent,
}

/// What a new person needs to know about the household that receives them.
struct Home<'a> {
    province: &'static str,
    ward: &'static Ward,
    address: &'a Address,
    ethnicity: &'a CodeName,
    religion: &'a CodeName,
}

impl Gen {
    pub(crate) fn new(seed: u64) -> Gen {
        let mut wards: Vec<(&'static str, Vec<&'static Ward>)> = Vec::new();
        for w in places::WARDS {
            match wards.iter_mut().find(|(p, _)| *p == w.province_code) {
                Some((_, list)) => list.push(w),
                None => wards.push((w.province_code, vec![w])),
            }
        }
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            used_ids: HashSet::new(),
            used_old_ids: HashSet::new(),
            used_households: HashSet::new(),
            used_codes: HashSet::new(),
            used_enterprise_ids: HashSet::new(),
            used_names: HashSet::new(),
            used_representatives: HashSet::new(),
            wards,
        }
    }

    /// Marks every id of fixed records as taken so that generated records never reuse one.
    pub(crate) fn reserve(&mut self, citizens: &[Citizen], enterprises: &[Enterprise]) {
        let relative = |g: &mut Gen, r: &Option<Relative>| {
            if let Some(r) = r {
                if let Some(id) = &r.personal_id {
                    g.used_ids.insert(id.clone());
                }
                if let Some(id) = &r.old_id {
                    g.used_old_ids.insert(id.clone());
                }
            }
        };
        for c in citizens {
            self.used_ids.insert(c.personal_id.clone());
            if let Some(o) = &c.old_id {
                self.used_old_ids.insert(o.clone());
            }
            self.used_households.insert(c.household.number.clone());
            relative(self, &c.father);
            relative(self, &c.mother);
            relative(self, &c.spouse);
        }
        for e in enterprises {
            self.used_codes.insert(e.code.clone());
            self.used_enterprise_ids.insert(e.id.clone());
            self.used_names.insert(e.name.clone());
            for r in &e.representatives {
                self.used_ids.insert(r.doc_no.clone());
            }
        }
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub(crate) fn range(&mut self, r: std::ops::RangeInclusive<i32>) -> i32 {
        self.rng.random_range(r)
    }

    /// A ward of a province, city wards four times and towns twice as likely as rural communes.
    pub(crate) fn ward_in(&mut self, province: &str) -> &'static Ward {
        let list: Vec<(&'static Ward, u32)> = self
            .wards
            .iter()
            .find(|(p, _)| *p == province)
            .map(|(_, l)| {
                l.iter()
                    .map(|w| {
                        let weight = match w.kind {
                            WardKind::City => 4,
                            WardKind::Town => 2,
                            WardKind::Rural => 1,
                        };
                        (*w, weight)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if list.is_empty() {
            return &places::WARDS[0];
        }
        weighted::<&'static Ward, _>(&mut self.rng, &list)
    }

    /// A house number and street, a residential group or a village, as the ward's kind reads.
    pub(crate) fn detail(&mut self, ward: &Ward, enterprise: bool) -> String {
        let street = *one_of(&mut self.rng, places::streets(ward.province_code));
        let n = self.range(1..=250);
        match ward.kind {
            WardKind::City if enterprise => format!("Số {n} {street}"),
            WardKind::City if self.chance(0.2) => format!("{n}/{} {street}", self.range(1..=60)),
            WardKind::City => format!("{n} {street}"),
            WardKind::Town if enterprise || self.chance(0.4) => format!("Số {n} {street}"),
            WardKind::Town => format!("Tổ dân phố {}", self.range(1..=12)),
            WardKind::Rural if ward.highland => {
                format!("Thôn {}", one_of(&mut self.rng, places::HIGHLAND_VILLAGES))
            }
            WardKind::Rural if self.chance(0.5) => format!("Thôn {}", self.range(1..=12)),
            WardKind::Rural => format!("Thôn {}", one_of(&mut self.rng, places::VILLAGES)),
        }
    }

    pub(crate) fn date_in(&mut self, year: i32) -> Date {
        let month = u8::try_from(self.range(1..=12)).unwrap_or(1);
        let day = self.rng.random_range(1..=days_in_month(year, month));
        Date::new(year, month, day)
    }

    /// A personal id nobody has yet.
    pub(crate) fn new_personal_id(&mut self, province: &str, sex: Sex, year: i32) -> String {
        loop {
            let serial = self.rng.random_range(0..1_000_000);
            let id = ids::personal_id(province, sex, year, serial);
            if self.used_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// A CMND nobody has yet, with the prefix of the province that issued it.
    fn new_old_id(&mut self, province: &str) -> String {
        let prefix = match province {
            "46" | "45" => "19",
            "48" | "49" => "20",
            "40" => "18",
            "01" => "01",
            "79" => "02",
            _ => "03",
        };
        loop {
            let id = format!("{prefix}{:07}", self.rng.random_range(0..10_000_000));
            if self.used_old_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn new_household_number(&mut self, province: &str) -> String {
        loop {
            let n = format!("{province}{:07}", self.rng.random_range(0..10_000_000));
            if self.used_households.insert(n.clone()) {
                return n;
            }
        }
    }

    fn ethnicity(&mut self, province: &str, ward: &Ward) -> CodeName {
        let table: &[(&str, u32)] = match (province, ward.highland) {
            ("46", true) => &[("01", 30), ("31", 35), ("26", 25), ("23", 10)],
            ("46", false) => &[("01", 985), ("04", 5), ("31", 4), ("26", 3), ("23", 3)],
            ("45", true) => &[("23", 70), ("31", 15), ("01", 15)],
            ("45", false) => &[("01", 97), ("23", 3)],
            ("49", true) => &[("26", 80), ("01", 20)],
            ("49", false) => &[("01", 97), ("26", 2), ("14", 1)],
            ("40", true) => &[("03", 60), ("29", 20), ("08", 10), ("01", 10)],
            ("40", false) => &[("01", 95), ("03", 5)],
            ("01", _) => &[("01", 970), ("06", 10), ("02", 10), ("03", 5), ("07", 5)],
            ("79", _) => &[("01", 930), ("04", 50), ("05", 10), ("17", 5), ("07", 5)],
            _ => &[("01", 99), ("04", 1)],
        };
        let code = *weighted(&mut self.rng, table);
        CodeName::new(
            code,
            codes::name_of(codes::ETHNICITIES, code).unwrap_or("Kinh"),
        )
    }

    fn religion(&mut self, province: &str, ethnicity: &CodeName) -> CodeName {
        let table: &[(&str, u32)] = match (province, ethnicity.code.as_str()) {
            (_, "23" | "26" | "31" | "03" | "29" | "08" | "14") => {
                &[("00", 80), ("03", 10), ("02", 10)]
            }
            (_, "05") => &[("01", 90), ("00", 10)],
            ("46", _) => &[("00", 52), ("01", 38), ("02", 8), ("03", 1), ("04", 1)],
            ("79", _) => &[
                ("00", 60),
                ("01", 20),
                ("02", 14),
                ("04", 2),
                ("03", 2),
                ("05", 1),
                ("06", 1),
            ],
            ("01", _) => &[("00", 88), ("01", 6), ("02", 5), ("03", 1)],
            ("40", _) => &[("00", 85), ("02", 12), ("01", 3)],
            _ => &[("00", 80), ("01", 12), ("02", 7), ("03", 1)],
        };
        let code = *weighted(&mut self.rng, table);
        CodeName::new(
            code,
            codes::name_of(codes::RELIGIONS, code).unwrap_or("Không"),
        )
    }

    fn blood_group(&mut self) -> Option<String> {
        if self.chance(0.25) {
            return None;
        }
        Some((*weighted(&mut self.rng, &[("O", 42), ("B", 30), ("A", 21), ("AB", 7)])).to_owned())
    }

    /// A parent who is not in the data set: a name (the father's family name is the child's), and
    /// ids when the population database would know them.
    fn outside_parent(&mut self, sex: Sex, child: &Citizen, province: &str) -> Option<Relative> {
        if self.chance(0.04) {
            return None;
        }
        let year = child.date_of_birth.year
            - match sex {
                Sex::Male => self.range(22..=40),
                Sex::Female => self.range(19..=38),
            };
        let family = match sex {
            Sex::Male => child.family_name.clone(),
            Sex::Female => names::family_name(&mut self.rng, &child.ethnicity.code, province),
        };
        let (middle, given) = names::middle_and_given(&mut self.rng, sex, year);
        let personal_id =
            (year >= 1920 && self.chance(0.75)).then(|| self.new_personal_id(province, sex, year));
        let old_id = (personal_id.is_some() && year < 1990 && self.chance(0.35))
            .then(|| self.new_old_id(province));
        Some(Relative {
            full_name: format!("{family} {middle} {given}"),
            personal_id,
            old_id,
            nationality: "VN".to_owned(),
        })
    }

    /// One person of a household, single, living at the household's address, with outside parents.
    fn person(
        &mut self,
        home: &Home<'_>,
        sex: Sex,
        birth_year: i32,
        family: Option<&str>,
        local: f64,
    ) -> Citizen {
        let ethnicity = home.ethnicity.clone();
        let family = match family {
            Some(f) => f.to_owned(),
            None => names::family_name(&mut self.rng, &ethnicity.code, home.province),
        };
        let (middle, given) = names::middle_and_given(&mut self.rng, sex, birth_year);
        let date_of_birth = self.date_in(birth_year);
        let birth_province = if self.chance(local) {
            home.province
        } else {
            *weighted(&mut self.rng, RESIDENCE)
        };
        let birth_ward = if birth_province == home.province && self.chance(0.7) {
            home.ward
        } else {
            self.ward_in(birth_province)
        };
        let hometown_ward = self.ward_in(birth_province);
        let personal_id = self.new_personal_id(birth_province, sex, birth_year);
        let old_id_chance = match birth_year {
            ..2000 => 0.5,
            2000..=2005 => 0.15,
            _ => 0.0,
        };
        let old_id = self
            .chance(old_id_chance)
            .then(|| self.new_old_id(birth_province));
        let blood_group = self.blood_group();
        let mut c = Citizen {
            personal_id,
            old_id,
            family_name: family,
            middle_name: middle,
            given_name: given,
            sex,
            date_of_birth,
            birth_year_only: false,
            ethnicity,
            religion: home.religion.clone(),
            nationality: "VN".to_owned(),
            marital_status: 1,
            blood_group,
            birth_registration: places::address(birth_ward, ""),
            hometown: places::address(hometown_ward, ""),
            permanent_address: home.address.clone(),
            current_address: home.address.clone(),
            father: None,
            mother: None,
            spouse: None,
            household: Household::default(),
            status: "alive".to_owned(),
        };
        c.father = self.outside_parent(Sex::Male, &c, birth_province);
        c.mother = self.outside_parent(Sex::Female, &c, birth_province);
        c
    }

    fn random_sex(&mut self, male: f64) -> Sex {
        if self.chance(male) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// `count` citizens, household after household (the last household may be cut short).
    pub(crate) fn citizens(&mut self, count: usize) -> Vec<Citizen> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            for c in self.household() {
                if out.len() == count {
                    break;
                }
                out.push(c);
            }
        }
        out
    }

    fn household(&mut self) -> Vec<Citizen> {
        let province = *weighted(&mut self.rng, RESIDENCE);
        let ward = self.ward_in(province);
        let detail = self.detail(ward, false);
        let address = places::address(ward, &detail);
        let ethnicity = self.ethnicity(province, ward);
        let religion = self.religion(province, &ethnicity);
        let number = self.new_household_number(province);
        let home = Home {
            province,
            ward,
            address: &address,
            ethnicity: &ethnicity,
            religion: &religion,
        };
        let kind = *weighted(
            &mut self.rng,
            &[
                (Kind::Single, 14),
                (Kind::Couple, 14),
                (Kind::Nuclear, 54),
                (Kind::ThreeGenerations, 14),
                (Kind::SingleParent, 4),
            ],
        );
        // Members in order, with their relation to the head (the first one).
        let mut members: Vec<(Citizen, &'static str)> = Vec::new();
        match kind {
            Kind::Single => {
                let roll = self.range(0..=99);
                let (sex, age, marital) = if roll < 55 {
                    (self.random_sex(0.5), self.range(18..=40), 1)
                } else if roll < 70 {
                    (self.random_sex(0.5), self.range(30..=65), 3)
                } else {
                    (self.random_sex(0.3), self.range(60..=95), 4)
                };
                let mut c = self.person(&home, sex, LAST_BIRTH_YEAR - age, None, 0.85);
                c.marital_status = marital;
                if marital == 4 && age >= 65 && self.chance(0.35) {
                    c.status = "deceased".to_owned();
                }
                members.push((c, "Chủ hộ"));
            }
            Kind::Couple | Kind::Nuclear | Kind::ThreeGenerations => {
                let husband_age = match kind {
                    Kind::Couple if self.chance(0.5) => self.range(21..=32),
                    Kind::Couple => self.range(55..=88),
                    _ => self.range(26..=65),
                };
                let wife_age = (husband_age - self.range(-2..=6)).clamp(18, 95);
                let mut husband =
                    self.person(&home, Sex::Male, LAST_BIRTH_YEAR - husband_age, None, 0.88);
                let wife_home_ethnicity = if self.chance(0.85) {
                    ethnicity.clone()
                } else {
                    self.ethnicity(province, ward)
                };
                let wife_home = Home {
                    ethnicity: &wife_home_ethnicity,
                    ..home
                };
                let mut wife = self.person(
                    &wife_home,
                    Sex::Female,
                    LAST_BIRTH_YEAR - wife_age,
                    None,
                    0.85,
                );
                husband.marital_status = 2;
                wife.marital_status = 2;
                husband.spouse = Some(wife.as_relative());
                wife.spouse = Some(husband.as_relative());
                let mut grandmother = None;
                if kind == Kind::ThreeGenerations {
                    let age = husband_age + self.range(20..=35);
                    if age <= 95 {
                        let mut g =
                            self.person(&home, Sex::Female, LAST_BIRTH_YEAR - age, None, 0.9);
                        g.marital_status = 4;
                        husband.mother = Some(g.as_relative());
                        grandmother = Some(g);
                    }
                }
                let mut children = Vec::new();
                if kind != Kind::Couple {
                    let n = *weighted(&mut self.rng, &[(1, 30), (2, 50), (3, 20)]);
                    let mut age = wife_age - self.range(20..=32);
                    for i in 0..n {
                        if i > 0 {
                            age -= self.range(2..=6);
                        }
                        if age < 0 {
                            break;
                        }
                        if age > 28 {
                            // Grown up and living elsewhere.
                            continue;
                        }
                        let sex = self.random_sex(0.512);
                        let mut child = self.person(
                            &home,
                            sex,
                            LAST_BIRTH_YEAR - age,
                            Some(&husband.family_name),
                            0.95,
                        );
                        child.father = Some(husband.as_relative());
                        child.mother = Some(wife.as_relative());
                        if (18..=30).contains(&age) && self.chance(0.25) {
                            let elsewhere = *weighted(
                                &mut self.rng,
                                &[("46", 50), ("79", 20), ("01", 15), ("48", 15)],
                            );
                            let w = self.ward_in(elsewhere);
                            let d = self.detail(w, false);
                            child.current_address = places::address(w, &d);
                        }
                        children.push(child);
                    }
                }
                members.push((husband, "Chủ hộ"));
                members.push((wife, "Vợ"));
                if let Some(g) = grandmother {
                    members.push((g, "Mẹ"));
                }
                members.extend(children.into_iter().map(|c| (c, "Con")));
            }
            Kind::SingleParent => {
                let mother_age = self.range(28..=55);
                let mut mother =
                    self.person(&home, Sex::Female, LAST_BIRTH_YEAR - mother_age, None, 0.85);
                mother.marital_status = if self.chance(0.6) { 3 } else { 4 };
                let father_family = names::family_name(&mut self.rng, &ethnicity.code, province);
                let father_year = LAST_BIRTH_YEAR - mother_age - self.range(0..=6);
                let (fm, fg) = names::middle_and_given(&mut self.rng, Sex::Male, father_year);
                let father_id = self
                    .chance(0.8)
                    .then(|| self.new_personal_id(province, Sex::Male, father_year));
                let father = Relative {
                    full_name: format!("{father_family} {fm} {fg}"),
                    personal_id: father_id,
                    old_id: None,
                    nationality: "VN".to_owned(),
                };
                let n = self.range(1..=2);
                let mut children = Vec::new();
                let mut age = (mother_age - self.range(20..=35)).max(0);
                for i in 0..n {
                    if i > 0 {
                        age -= self.range(2..=6);
                    }
                    if age < 0 {
                        break;
                    }
                    let sex = self.random_sex(0.512);
                    let mut child = self.person(
                        &home,
                        sex,
                        LAST_BIRTH_YEAR - age,
                        Some(&father_family),
                        0.95,
                    );
                    child.father = Some(father.clone());
                    child.mother = Some(mother.as_relative());
                    children.push(child);
                }
                members.push((mother, "Chủ hộ"));
                members.extend(children.into_iter().map(|c| (c, "Con")));
            }
        }
        let head_id = members
            .first()
            .map(|(c, _)| c.personal_id.clone())
            .unwrap_or_default();
        members
            .into_iter()
            .map(|(mut c, relation)| {
                c.household = Household {
                    number: number.clone(),
                    head_id: head_id.clone(),
                    relation_to_head: relation.to_owned(),
                };
                c
            })
            .collect()
    }
}
