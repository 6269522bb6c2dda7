//! Business hours of the human team, from the `[hours]` table of the shop config
//! (`config/shop.toml`): a time zone, opening hours per weekday and holidays.
//! [`BusinessHours::is_open`] says whether agents are in; [`BusinessHours::back_phrase`] says,
//! in the customer's language, when they are back; [`BusinessHours::describe`] writes the
//! weekly hours out for the FAQ.
//!
//! ```
//! let hours = hours::BusinessHours::parse(r#"
//! [hours]
//! time_zone = "Europe/Budapest"
//! holidays = ["2026-12-25"]
//! [hours.weekly]
//! mon = "08:00-18:00"
//! fri = "08:00-18:00"
//! "#)?;
//! assert_eq!(hours.describe("en"), "Monday 08:00–18:00, Friday 08:00–18:00");
//! // Friday 2026-11-27 19:00 in Budapest (18:00 UTC): closed until Monday 8:00.
//! let friday_evening = 1_795_802_400_000;
//! assert!(!hours.is_open(friday_evening));
//! assert_eq!(hours.back_phrase(friday_evening, "en").as_deref(), Some("on Monday at 08:00"));
//! # Ok::<(), hours::Error>(())
//! ```
#![deny(missing_docs)]

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// An invalid business-hours file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "business hours: {}", self.0)
    }
}

impl std::error::Error for Error {}

/// The shop config; only its `[hours]` table is read here.
#[derive(Deserialize)]
struct ShopConfig {
    hours: File,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    time_zone: String,
    #[serde(default)]
    weekly: BTreeMap<String, String>,
    #[serde(default)]
    holidays: Vec<String>,
}

/// Parsed business hours.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    zone: Tz,
    /// Opening interval per weekday (Monday = 0), if open that day.
    days: [Option<(NaiveTime, NaiveTime)>; 7],
    holidays: Vec<NaiveDate>,
}

const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_interval(day: &str, text: &str) -> Result<Option<(NaiveTime, NaiveTime)>, Error> {
    let text = text.trim();
    if text.is_empty() || text == "closed" {
        return Ok(None);
    }
    let bad = || {
        Error(format!(
            "`{day} = {text:?}`: expected \"HH:MM-HH:MM\" or \"closed\""
        ))
    };
    let (from, to) = text.split_once('-').ok_or_else(bad)?;
    let from = NaiveTime::parse_from_str(from.trim(), "%H:%M").map_err(|_| bad())?;
    let to = NaiveTime::parse_from_str(to.trim(), "%H:%M").map_err(|_| bad())?;
    if from >= to {
        return Err(bad());
    }
    Ok(Some((from, to)))
}

impl BusinessHours {
    /// Parses the `[hours]` table of a shop config (other tables are ignored).
    ///
    /// # Errors
    ///
    /// No `[hours]` table, unknown time zone, day or key, a malformed interval or holiday date.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let file = toml::from_str::<ShopConfig>(text)
            .map_err(|e| Error(e.to_string()))?
            .hours;
        let zone: Tz = file
            .time_zone
            .parse()
            .map_err(|_| Error(format!("unknown time zone `{}`", file.time_zone)))?;
        let mut days = [None; 7];
        for (day, interval) in &file.weekly {
            let index = DAY_KEYS
                .iter()
                .position(|d| d == day)
                .ok_or_else(|| Error(format!("unknown day `{day}` (use mon..sun)")))?;
            days[index] = parse_interval(day, interval)?;
        }
        let holidays = file
            .holidays
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| Error(format!("holiday `{d}`: expected YYYY-MM-DD")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            zone,
            days,
            holidays,
        })
    }

    fn interval(&self, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        if self.holidays.contains(&date) {
            return None;
        }
        self.days[date.weekday().num_days_from_monday() as usize]
    }

    /// Whether agents are in at `utc_ms` (milliseconds since the epoch).
    pub fn is_open(&self, utc_ms: i64) -> bool {
        let Some(local) = self.zone.timestamp_millis_opt(utc_ms).single() else {
            return false;
        };
        self.interval(local.date_naive())
            .is_some_and(|(from, to)| (from..to).contains(&local.time()))
    }

    /// When agents are next in after `utc_ms`: the local date and opening time (within 30 days).
    pub fn next_opening(&self, utc_ms: i64) -> Option<(NaiveDate, NaiveTime)> {
        let local = self.zone.timestamp_millis_opt(utc_ms).single()?;
        let today = local.date_naive();
        (0..31).find_map(|offset| {
            let date = today.checked_add_days(chrono::Days::new(offset))?;
            let (from, _) = self.interval(date)?;
            (offset > 0 || local.time() < from).then_some((date, from))
        })
    }

    /// "When agents are back" in `lang` (en, hu, pl; English otherwise), e.g. "on Monday at
    /// 08:00", "hétfőn 08:00-kor", "w poniedziałek o 08:00"; `None` if open now or no opening
    /// within 30 days.
    pub fn back_phrase(&self, utc_ms: i64, lang: &str) -> Option<String> {
        if self.is_open(utc_ms) {
            return None;
        }
        let (date, time) = self.next_opening(utc_ms)?;
        let today = self
            .zone
            .timestamp_millis_opt(utc_ms)
            .single()?
            .date_naive();
        let clock = format!("{:02}:{:02}", time.hour(), time.minute());
        let day = date.weekday();
        let same_day = date == today;
        Some(match lang {
            "hu" => {
                let name = [
                    "hétfőn",
                    "kedden",
                    "szerdán",
                    "csütörtökön",
                    "pénteken",
                    "szombaton",
                    "vasárnap",
                ][day.num_days_from_monday() as usize];
                if same_day {
                    format!("ma {clock}-kor")
                } else {
                    format!("{name} {clock}-kor")
                }
            }
            "pl" => {
                let name = [
                    "w poniedziałek",
                    "we wtorek",
                    "w środę",
                    "w czwartek",
                    "w piątek",
                    "w sobotę",
                    "w niedzielę",
                ][day.num_days_from_monday() as usize];
                if same_day {
                    format!("dziś o {clock}")
                } else {
                    format!("{name} o {clock}")
                }
            }
            _ => {
                if same_day {
                    format!("today at {clock}")
                } else {
                    format!("on {} at {clock}", english_day(day))
                }
            }
        })
    }
}

const DAY_NAMES: [[&str; 7]; 3] = [
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    [
        "hétfő",
        "kedd",
        "szerda",
        "csütörtök",
        "péntek",
        "szombat",
        "vasárnap",
    ],
    [
        "poniedziałek",
        "wtorek",
        "środa",
        "czwartek",
        "piątek",
        "sobota",
        "niedziela",
    ],
];

impl BusinessHours {
    /// The weekly hours written out in `lang` (en, hu, pl; English otherwise): runs of days
    /// with the same hours joined by an en dash, closed days left out, e.g. "Monday–Friday
    /// 08:00–18:00, Saturday 09:00–13:00" or "hétfő–péntek 08:00–18:00, szombat 09:00–13:00".
    pub fn describe(&self, lang: &str) -> String {
        let names = &DAY_NAMES[match lang {
            "hu" => 1,
            "pl" => 2,
            _ => 0,
        }];
        let clock = |t: NaiveTime| format!("{:02}:{:02}", t.hour(), t.minute());
        let mut parts = Vec::new();
        let mut day = 0;
        while day < 7 {
            let Some((from, to)) = self.days[day] else {
                day += 1;
                continue;
            };
            let mut last = day;
            while last + 1 < 7 && self.days[last + 1] == self.days[day] {
                last += 1;
            }
            let days = if last == day {
                names[day].to_string()
            } else {
                format!("{}–{}", names[day], names[last])
            };
            parts.push(format!("{days} {}–{}", clock(from), clock(to)));
            day = last + 1;
        }
        parts.join(", ")
    }
}

fn english_day(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[hours]
time_zone = "Europe/Budapest"
holidays = ["2026-12-25"]
[hours.weekly]
mon = "08:00-18:00"
tue = "08:00-18:00"
wed = "08:00-18:00"
thu = "08:00-18:00"
fri = "08:00-18:00"
sat = "09:00-13:00"
sun = "closed"
"#;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        // Local Budapest time → UTC ms (winter: UTC+1, summer: UTC+2).
        chrono_tz::Europe::Budapest
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn open_and_back_table() {
        let hours = BusinessHours::parse(FILE).unwrap();
        // (UTC ms, open?, back phrase in en, hu, pl)
        type Case = (
            i64,
            bool,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (at(2026, 11, 23, 10, 0), true, None, None, None), // Monday morning
            (
                at(2026, 11, 23, 7, 59),
                false,
                Some("today at 08:00"),
                Some("ma 08:00-kor"),
                Some("dziś o 08:00"),
            ),
            (
                at(2026, 11, 23, 18, 0),
                false,
                Some("on Tuesday at 08:00"),
                Some("kedden 08:00-kor"),
                Some("we wtorek o 08:00"),
            ),
            (at(2026, 11, 28, 12, 59), true, None, None, None), // Saturday
            (
                at(2026, 11, 28, 13, 0),
                false,
                Some("on Monday at 08:00"),
                Some("hétfőn 08:00-kor"),
                Some("w poniedziałek o 08:00"),
            ),
            (
                at(2026, 12, 24, 20, 0),
                false,
                Some("on Saturday at 09:00"),
                Some("szombaton 09:00-kor"),
                Some("w sobotę o 09:00"),
            ), // Christmas Day is a holiday
            (at(2026, 7, 1, 17, 30), true, None, None, None), // summer time
        ];
        for (utc, open, en, hu, pl) in cases {
            assert_eq!(hours.is_open(*utc), *open, "{utc}");
            assert_eq!(hours.back_phrase(*utc, "en").as_deref(), *en, "{utc}");
            assert_eq!(hours.back_phrase(*utc, "hu").as_deref(), *hu, "{utc}");
            assert_eq!(hours.back_phrase(*utc, "pl").as_deref(), *pl, "{utc}");
        }
    }

    #[test]
    fn bad_files() {
        let cases = [
            (
                FILE.replace("Europe/Budapest", "Mars/Olympus"),
                "unknown time zone",
            ),
            (
                FILE.replace("sun = \"closed\"", "sunday = \"closed\""),
                "unknown day",
            ),
            (
                FILE.replace("\"09:00-13:00\"", "\"13:00-09:00\""),
                "expected",
            ),
            (FILE.replace("2026-12-25", "25/12/2026"), "YYYY-MM-DD"),
            ("[facts]\nx = \"1\"".to_string(), "missing field `hours`"),
        ];
        for (text, needle) in cases {
            let err = BusinessHours::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn weekly_hours_are_written_out_in_each_language() {
        let hours = BusinessHours::parse(FILE).unwrap();
        assert_eq!(
            hours.describe("en"),
            "Monday–Friday 08:00–18:00, Saturday 09:00–13:00"
        );
        assert_eq!(
            hours.describe("hu"),
            "hétfő–péntek 08:00–18:00, szombat 09:00–13:00"
        );
        assert_eq!(
            hours.describe("pl"),
            "poniedziałek–piątek 08:00–18:00, sobota 09:00–13:00"
        );
        assert_eq!(hours.describe("de"), hours.describe("en"));
        // A gap splits a run; a lone day stands alone.
        let split =
            BusinessHours::parse(&FILE.replace("wed = \"08:00-18:00\"", "wed = \"closed\""))
                .unwrap();
        assert_eq!(
            split.describe("en"),
            "Monday–Tuesday 08:00–18:00, Thursday–Friday 08:00–18:00, Saturday 09:00–13:00"
        );
    }
}
