//! Billing plans on offer, from configuration: code, name, price per interval and
//! how many members a ktti on the plan may have.

use crate::Money;

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
