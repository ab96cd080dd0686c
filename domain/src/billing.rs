//! Billing plans on offer, from configuration: code, name, price per interval and
//! how many members a ktti on the plan may have.

use crate::Money;
use chrono::{Months, NaiveDate};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub price: Money,
    /// `month` or `year`.
    pub interval: String,
    pub member_limit: u32,
}

/// The plans when configuration names none.
pub const DEFAULT_PLANS: &str = "free:Free:0.00:month:5;plus:Plus:4.99:month:20;pro:Pro:9.99:month:100";

/// Parses `code:name:price:interval:memberLimit;...`.
pub fn parse_plans(raw: &str) -> Result<Vec<Plan>, String> {
    let mut plans: Vec<Plan> = Vec::new();
    for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let f: Vec<&str> = part.split(':').map(str::trim).collect();
        let [code, name, price, interval, limit] = f[..] else {
            return Err(format!("plan {part:?}: expected code:name:price:interval:memberLimit"));
        };
        if code.is_empty()
            || !code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "plan {part:?}: the code must be lower-case letters, digits or dashes"
            ));
        }
        if plans.iter().any(|p| p.code == code) {
            return Err(format!("plan code {code:?} appears twice"));
        }
        let price = price
            .parse::<rust_decimal::Decimal>()
            .ok()
            .and_then(|d| Money::new(d).ok())
            .filter(|m| *m >= Money::ZERO)
            .ok_or_else(|| format!("plan {code}: the price must be an amount like 4.99"))?;
        if !matches!(interval, "month" | "year") {
            return Err(format!("plan {code}: the interval must be month or year"));
        }
        let member_limit = limit
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("plan {code}: the member limit must be a whole number of at least 1"))?;
        plans.push(Plan {
            code: code.to_string(),
            name: name.to_string(),
            price,
            interval: interval.to_string(),
            member_limit,
        });
    }
    if plans.is_empty() {
        return Err("at least one plan is needed".into());
    }
    Ok(plans)
}

impl Plan {
    /// Months in one billing period.
    pub fn months(&self) -> u32 {
        if self.interval == "year" { 12 } else { 1 }
    }

    pub fn is_free(&self) -> bool {
        self.price == Money::ZERO
    }
}

/// The debit's reference: the charge's idempotency key in 35 characters, so the
/// bank's record of the debit names its charge.
pub fn reference(key: uuid::Uuid) -> String {
    format!("{REFERENCE_PREFIX}{}", key.simple())
}

/// The charge key a debit's reference names, if it is one of ours.
pub fn key_of_reference(reference: &str) -> Option<uuid::Uuid> {
    let hex = reference.strip_prefix(REFERENCE_PREFIX)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    uuid::Uuid::parse_str(hex).ok()
}

/// Not `KP` (deposit references) nor `KPO` (payouts).
const REFERENCE_PREFIX: &str = "KPB";

/// The plan with `code`, if it is on offer.
pub fn find<'a>(plans: &'a [Plan], code: &str) -> Option<&'a Plan> {
    plans.iter().find(|p| p.code == code)
}

/// One billing period: from `start` (included) to `end` (excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// A ktti is billed in arrears: a period is charged once it has ended. Periods
/// follow each other from the ktti's anchor date (when it opened), a month or a
/// year each, counted from the anchor so that a period starting on the 31st is
/// followed by one on the 30th, then the 31st again (not drifting to the 28th).
///
/// The period after the last one billed (`billed_through`: where the last
/// billed period ended, `None` before the first), if it has ended by `today`.
pub fn due_period(
    anchor: NaiveDate,
    billed_through: Option<NaiveDate>,
    months: u32,
    today: NaiveDate,
) -> Option<Period> {
    let start = billed_through.unwrap_or(anchor);
    // Which period of the anchor's sequence starts at `start`: the end is
    // counted from the anchor, not from `start`, so month ends do not drift.
    let mut k = 0u32;
    while add_months(anchor, k * months)? < start {
        k += 1;
    }
    let end = add_months(anchor, (k + 1) * months)?;
    (end <= today).then_some(Period { start, end })
}

fn add_months(d: NaiveDate, months: u32) -> Option<NaiveDate> {
    d.checked_add_months(Months::new(months))
}

/// When the period in progress ends (and is charged).
pub fn next_billing_date(anchor: NaiveDate, billed_through: Option<NaiveDate>, months: u32) -> Option<NaiveDate> {
    let start = billed_through.unwrap_or(anchor);
    let mut k = 1u32;
    loop {
        let end = add_months(anchor, k * months)?;
        if end > start {
            return Some(end);
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plans_parse() {
        let plans = parse_plans(DEFAULT_PLANS).unwrap();
        assert_eq!(plans.len(), 3);
        assert_eq!(plans[1].price, Money::from_cents(499));
        assert_eq!(plans[2].member_limit, 100);
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_is_charged_once_it_has_ended() {
        let anchor = d("2026-01-31");
        assert_eq!(due_period(anchor, None, 1, d("2026-02-27")), None);
        let first = due_period(anchor, None, 1, d("2026-02-28")).unwrap();
        assert_eq!((first.start, first.end), (d("2026-01-31"), d("2026-02-28")));
        // The next is counted from the anchor: back to the 31st in March.
        let second = due_period(anchor, Some(first.end), 1, d("2026-04-01")).unwrap();
        assert_eq!((second.start, second.end), (d("2026-02-28"), d("2026-03-31")));
        assert_eq!(next_billing_date(anchor, Some(second.end), 1), Some(d("2026-04-30")));
        let yearly = due_period(d("2024-02-29"), None, 12, d("2025-02-28")).unwrap();
        assert_eq!(yearly.end, d("2025-02-28"));
        assert_eq!(next_billing_date(anchor, None, 12), Some(d("2027-01-31")));
    }

    proptest::proptest! {
        /// Periods charged one after another tile time with no gap and no overlap.
        #[test]
        fn periods_follow_each_other(day in 1u32..=28, month in 1u32..=12, months in proptest::sample::select(vec![1u32, 12]), n in 1usize..40) {
            let anchor = NaiveDate::from_ymd_opt(2025, month, day).unwrap();
            let far = d("2100-01-01");
            let mut through = None;
            for _ in 0..n {
                let p = due_period(anchor, through, months, far).unwrap();
                proptest::prop_assert_eq!(p.start, through.unwrap_or(anchor));
                proptest::prop_assert!(p.end > p.start);
                proptest::prop_assert_eq!(Some(p.end), next_billing_date(anchor, through, months));
                through = Some(p.end);
            }
        }
    }

    #[test]
    fn references_name_their_charge_and_nothing_else() {
        let key = uuid::Uuid::from_u128(7);
        assert_eq!(key_of_reference(&reference(key)), Some(key));
        assert!(reference(key).len() <= 35);
        assert_eq!(key_of_reference(&crate::payout::reference(key)), None);
        assert_eq!(crate::payout::key_of_reference(&reference(key)), None);
    }

    #[test]
    fn bad_plans_say_why() {
        assert!(parse_plans("").is_err());
        assert!(parse_plans("a:A:1.00:month").unwrap_err().contains("expected"));
        assert!(parse_plans("a:A:1.001:month:3").unwrap_err().contains("price"));
        assert!(parse_plans("a:A:1.00:week:3").unwrap_err().contains("interval"));
        assert!(parse_plans("a:A:1.00:month:0").unwrap_err().contains("member limit"));
        assert!(parse_plans("a:A:1:month:3;a:B:2:year:4").unwrap_err().contains("twice"));
        assert!(parse_plans("A b:A:1:month:3").is_err());
    }
}
