//! Dividing a transaction between members, to the cent (DOMAIN.md, money rules).
//!
//! Everything reduces to [`allocate`]: whole cents divided in proportion to whole
//! weights, floors first, then the cents left over one each to the largest
//! remainders. Ties between equal remainders are broken in an order that starts
//! at a point the transaction picks ([`Rotation`]), so the member who absorbs the
//! odd cent changes from one transaction to the next instead of always being the
//! first by id. Working in integers keeps it exact: no intermediate rounding can
//! make a split sum to a cent more or less than its amount.
//!
//! - [`split`]: what a person asks for (`equal`, `shares`, `percentages`, `exact`),
//!   checked field by field against who may be in the split.
//! - [`split_line_items`]: a receipt's items assigned to members; the difference
//!   between the items and the amount (tax, surcharge, rounding) follows the items.
//! - [`by_weights`]: the ktti's default proportions (card spends, fees).
//! - [`reverse`]: a refund, pro rata to what is left unrefunded of its expense.

use crate::Money;
use crate::ids::UserId;
use crate::lifecycle::SplitMode;
use crate::validation::FieldError;
use rust_decimal::Decimal;
use uuid::Uuid;

/// Most members one split may name.
pub const MEMBERS_MAX: usize = 1_000;
/// Most line items one split may assign.
pub const LINE_ITEMS_MAX: usize = 500;
/// Finest weight or percentage a client may send, in decimal places.
pub const WEIGHT_DECIMALS_MAX: u32 = 4;
/// Largest weight in a `shares` split.
pub const WEIGHT_MAX: u32 = 10_000;
/// Decimal places internal weights are cut to: fine enough for any stored weight
/// (two places) or client weight (four), small enough that cents times weight
/// stays far inside an `i128`.
const INTERNAL_WEIGHT_DECIMALS: u32 = 12;

/// The JSON form of a split value (a weight, a percentage or an amount): a plain
/// decimal, no sign, no leading zeros, at most four decimal places.
pub const VALUE_PATTERN: &str = r"^(?:0|[1-9][0-9]{0,13})(?:\.[0-9]{1,4})?$";

/// A split value as the client sent it, exactly as [`VALUE_PATTERN`] says.
pub fn parse_value(raw: &str) -> Result<Decimal, String> {
    let bad = || "must be a decimal like \"1\", \"2.5\" or \"10.00\"".to_string();
    let (whole, fraction) = match raw.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (raw, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = digits(whole) && whole.len() <= 14 && (whole == "0" || !whole.starts_with('0'));
    let fraction_ok = fraction.is_none_or(|f| digits(f) && f.len() <= WEIGHT_DECIMALS_MAX as usize);
    if !(whole_ok && fraction_ok) {
        return Err(bad());
    }
    raw.parse().map_err(|_| bad())
}

/// Where tie-breaking starts for one transaction; derived from its id so the same
/// transaction always splits the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation(pub u64);

impl Rotation {
    /// From a transaction id. The low half of a UUIDv7 is random, so consecutive
    /// transactions start their tie-breaks at unrelated members.
    pub fn of(id: Uuid) -> Rotation {
        let mut low = [0u8; 8];
        low.copy_from_slice(&id.as_bytes()[8..]);
        Rotation(u64::from_le_bytes(low))
    }
}

/// `cents` divided in proportion to `weights` (none negative): largest remainder,
/// ties in rotated order. `None` when no weight is positive or `cents` is negative.
/// A zero weight always gets zero; the result sums to exactly `cents`.
pub fn allocate(cents: i64, weights: &[i128], rotation: Rotation) -> Option<Vec<i64>> {
    let total: i128 = weights.iter().sum();
    if cents < 0 || total <= 0 || weights.iter().any(|w| *w < 0) {
        return None;
    }
    let n = weights.len();
    let c = i128::from(cents);
    let mut out = Vec::with_capacity(n);
    let mut remainders = Vec::with_capacity(n);
    let mut given: i128 = 0;
    for w in weights {
        let share = c.checked_mul(*w)?;
        out.push((share / total) as i64);
        remainders.push(share % total);
        given += share / total;
    }
    // Each remainder is below `total`, so fewer cents are left than there are
    // members with a remainder: the loop below never reaches a zero weight.
    let left = (c - given) as usize;
    if left > 0 {
        let start = (rotation.0 % n as u64) as usize;
        let place = |i: usize| (i + n - start) % n;
        let mut order: Vec<usize> = (0..n).filter(|&i| remainders[i] > 0).collect();
        order.sort_unstable_by(|&a, &b| remainders[b].cmp(&remainders[a]).then(place(a).cmp(&place(b))));
        for &i in order.iter().take(left) {
            out[i] += 1;
        }
    }
    Some(out)
}

/// Decimal weights as whole numbers on one common scale.
fn whole_weights(weights: &[Decimal]) -> Option<Vec<i128>> {
    let scale = weights
        .iter()
        .map(|w| w.normalize().scale())
        .max()
        .unwrap_or(0)
        .min(INTERNAL_WEIGHT_DECIMALS);
    weights
        .iter()
        .map(|w| {
            let mut w = w.round_dp(scale);
            w.rescale(scale);
            (w >= Decimal::ZERO).then(|| w.mantissa())
        })
        .collect()
}

/// One member's part of a split: the value they were given (a weight, a
/// percentage, an amount; none for `equal`) and what it came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub user: UserId,
    pub value: Option<Decimal>,
    pub amount: Money,
}

/// One member as a person named them in a split request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub user: UserId,
    /// The decimal the client sent: a weight, a percentage or an amount.
    pub value: Option<Decimal>,
}

/// A receipt line item and the members it is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub amount: Money,
    pub users: Vec<UserId>,
}

/// Shares from parallel lists, ordered by member.
fn shares(users: &[UserId], values: &[Option<Decimal>], cents: &[i64]) -> Vec<Share> {
    let mut out: Vec<Share> = users
        .iter()
        .zip(values)
        .zip(cents)
        .map(|((u, v), c)| Share {
            user: *u,
            value: *v,
            amount: Money::from_cents(*c),
        })
        .collect();
    out.sort_by_key(|s| s.user);
    out
}

/// `amount` divided as a person asked, among `eligible` members (the ktti's
/// active members). Every problem is reported with the field it concerns, as the
/// JSON names it (`shares[2].value`).
pub fn split(
    amount: Money,
    mode: SplitMode,
    asked: &[Asked],
    eligible: &[UserId],
    rotation: Rotation,
) -> Result<Vec<Share>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut err = |field: String, message: String| errors.push(FieldError::new(field, message));
    if mode == SplitMode::LineItems {
        err(
            "mode".into(),
            "a lineItems split assigns line items: send lineItems".into(),
        );
    }
    if asked.is_empty() {
        err("shares".into(), "name at least one member".into());
    }
    if asked.len() > MEMBERS_MAX {
        err("shares".into(), format!("at most {MEMBERS_MAX} members"));
    }
    let mut sorted: Vec<&Asked> = asked.iter().collect();
    sorted.sort_by_key(|a| a.user);
    for (i, a) in asked.iter().enumerate() {
        if !eligible.contains(&a.user) {
            err(
                format!("shares[{i}].userId"),
                "is not an active member of this ktti".into(),
            );
        } else if asked[..i].iter().any(|b| b.user == a.user) {
            err(format!("shares[{i}].userId"), "appears twice".into());
        }
        if let Err(why) = value_rule(mode, a.value) {
            err(format!("shares[{i}].value"), why);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let users: Vec<UserId> = sorted.iter().map(|a| a.user).collect();
    let values: Vec<Option<Decimal>> = sorted.iter().map(|a| a.value).collect();
    let given = |v: &Option<Decimal>| v.unwrap_or_default();
    let weights = match mode {
        SplitMode::Equal => vec![1; users.len()],
        SplitMode::Shares | SplitMode::LineItems => whole_weights(&values.iter().map(given).collect::<Vec<_>>())
            .ok_or_else(|| vec![FieldError::new("shares", "weights must not be negative")])?,
        SplitMode::Percentages => {
            let sum: Decimal = values.iter().map(given).sum();
            if sum != Decimal::ONE_HUNDRED {
                return Err(vec![FieldError::new(
                    "shares",
                    format!("percentages sum to {}, not 100", sum.normalize()),
                )]);
            }
            whole_weights(&values.iter().map(given).collect::<Vec<_>>())
                .ok_or_else(|| vec![FieldError::new("shares", "percentages must not be negative")])?
        }
        SplitMode::Exact => {
            let sum: Decimal = values.iter().map(given).sum();
            if sum != amount.as_decimal() {
                return Err(vec![FieldError::new(
                    "shares",
                    format!("amounts sum to {sum}, not the transaction's {amount}"),
                )]);
            }
            let cents: Vec<i64> = values
                .iter()
                .map(|v| Money::new(given(v)).map(|m| m.cents()).unwrap_or(0))
                .collect();
            return Ok(shares(&users, &values, &cents));
        }
    };
    let cents = allocate(amount.cents(), &weights, rotation)
        .ok_or_else(|| vec![FieldError::new("shares", "at least one value must be more than 0")])?;
    Ok(shares(&users, &values, &cents))
}

/// What one value may be in `mode`.
fn value_rule(mode: SplitMode, value: Option<Decimal>) -> Result<(), String> {
    let decimals = |v: Decimal, max: u32| {
        if v.normalize().scale() > max {
            Err(format!("at most {max} decimal places"))
        } else {
            Ok(())
        }
    };
    match (mode, value) {
        (SplitMode::Equal | SplitMode::LineItems, None) => Ok(()),
        (SplitMode::Equal | SplitMode::LineItems, Some(_)) => Err(format!("not taken in a {mode} split")),
        (_, None) => Err(format!("required in a {mode} split")),
        (SplitMode::Shares, Some(v)) => {
            if v <= Decimal::ZERO || v > Decimal::from(WEIGHT_MAX) {
                return Err(format!("a weight more than 0 and at most {WEIGHT_MAX}"));
            }
            decimals(v, WEIGHT_DECIMALS_MAX)
        }
        (SplitMode::Percentages, Some(v)) => {
            if v <= Decimal::ZERO || v > Decimal::ONE_HUNDRED {
                return Err("a percentage more than 0 and at most 100".into());
            }
            decimals(v, WEIGHT_DECIMALS_MAX)
        }
        (SplitMode::Exact, Some(v)) => {
            if v < Decimal::ZERO {
                return Err("must not be negative".into());
            }
            decimals(v, crate::money::MONEY_SCALE)
        }
    }
}

/// `amount` divided by a receipt's line items: each item equally among the
/// members it is assigned to, then the whole amount in proportion to what each
/// member's items came to, so tax, surcharges, discounts and rounding follow the
/// items. Items assigned to nobody are shared the same way.
pub fn split_line_items(
    amount: Money,
    items: &[LineItem],
    eligible: &[UserId],
    rotation: Rotation,
) -> Result<Vec<Share>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if items.len() > LINE_ITEMS_MAX {
        errors.push(FieldError::new("lineItems", format!("at most {LINE_ITEMS_MAX} items")));
    }
    let mut users: Vec<UserId> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        for (j, u) in item.users.iter().enumerate() {
            if !eligible.contains(u) {
                errors.push(FieldError::new(
                    format!("lineItems[{i}].userIds[{j}]"),
                    "is not an active member of this ktti",
                ));
            } else if item.users[..j].contains(u) {
                errors.push(FieldError::new(format!("lineItems[{i}].userIds[{j}]"), "appears twice"));
            } else if !users.contains(u) {
                users.push(*u);
            }
        }
    }
    if users.is_empty() && errors.is_empty() {
        errors.push(FieldError::new("lineItems", "assign at least one item to a member"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    users.sort();
    // What each member's items came to, in cents (a discount line counts against).
    let mut item_cents = vec![0i64; users.len()];
    for item in items.iter().filter(|i| !i.users.is_empty()) {
        let mut assigned = item.users.clone();
        assigned.sort();
        let sign = item.amount.cents().signum();
        let parts = allocate(item.amount.cents().abs(), &vec![1; assigned.len()], rotation).unwrap_or_default();
        for (u, c) in assigned.iter().zip(parts) {
            if let Ok(k) = users.binary_search(u) {
                item_cents[k] += sign * c;
            }
        }
    }
    let weights: Vec<i128> = item_cents.iter().map(|c| i128::from((*c).max(0))).collect();
    let cents = allocate(amount.cents(), &weights, rotation).ok_or_else(|| {
        vec![FieldError::new(
            "lineItems",
            "the assigned items add up to nothing; assign an item with a price",
        )]
    })?;
    let values: Vec<Option<Decimal>> = item_cents
        .iter()
        .map(|c| Some(Money::from_cents(*c).as_decimal()))
        .collect();
    Ok(shares(&users, &values, &cents))
}

/// `amount` by the ktti's default proportions (member, weight). Members whose
/// weights are all zero share equally; `None` only when there is nobody.
pub fn by_weights(amount: Money, weights: &[(UserId, Decimal)], rotation: Rotation) -> Option<Vec<Share>> {
    let mut sorted = weights.to_vec();
    sorted.sort_by_key(|(u, _)| *u);
    let users: Vec<UserId> = sorted.iter().map(|(u, _)| *u).collect();
    let values: Vec<Option<Decimal>> = sorted.iter().map(|(_, w)| Some(*w)).collect();
    let whole = whole_weights(&sorted.iter().map(|(_, w)| *w).collect::<Vec<_>>())?;
    let cents = allocate(amount.cents(), &whole, rotation)
        .or_else(|| allocate(amount.cents(), &vec![1; users.len()], rotation))?;
    Some(shares(&users, &values, &cents))
}

/// A refund's shares: pro rata to what each member's share of the expense still
/// has unrefunded (`remaining`), so refunds in parts never give a member back more
/// than they paid. `None` when nothing remains (the caller falls back to the
/// default proportions: the bank refunded more than we knew was spent).
pub fn reverse(refund: Money, remaining: &[(UserId, Money)], rotation: Rotation) -> Option<Vec<Share>> {
    let mut sorted = remaining.to_vec();
    sorted.sort_by_key(|(u, _)| *u);
    let users: Vec<UserId> = sorted.iter().map(|(u, _)| *u).collect();
    let weights: Vec<i128> = sorted.iter().map(|(_, m)| i128::from(m.cents().max(0))).collect();
    let cents = allocate(refund.cents(), &weights, rotation)?;
    let values: Vec<Option<Decimal>> = cents.iter().map(|c| Some(Money::from_cents(*c).as_decimal())).collect();
    Some(shares(&users, &values, &cents))
}

#[cfg(test)]
mod tests;
