//! The split engine's rules, example by example, then as properties over random
//! amounts, member counts (1 to 1,000) and modes.

use super::*;
use proptest::prelude::*;
use std::str::FromStr;

fn users(n: usize) -> Vec<UserId> {
    (0..n).map(|i| UserId(Uuid::from_u128(i as u128 + 1))).collect()
}

fn money(s: &str) -> Money {
    Money::from_str(s).unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn amounts(shares: &[Share]) -> Vec<String> {
    shares.iter().map(|s| s.amount.to_string()).collect()
}

fn total(shares: &[Share]) -> Money {
    Money::from_cents(shares.iter().map(|s| s.amount.cents()).sum())
}

#[test]
fn ten_dollars_three_ways_gives_the_odd_cent_by_rotation() {
    let u = users(3);
    let asked: Vec<Asked> = u.iter().map(|u| Asked { user: *u, value: None }).collect();
    let at = |r| amounts(&split(money("10.00"), SplitMode::Equal, &asked, &u, Rotation(r)).unwrap());
    assert_eq!(at(0), ["3.34", "3.33", "3.33"]);
    assert_eq!(at(1), ["3.33", "3.34", "3.33"]);
    assert_eq!(at(2), ["3.33", "3.33", "3.34"]);
    assert_eq!(at(3), at(0), "the rotation wraps around the members");
}

#[test]
fn largest_remainder_beats_rotation() {
    // 1.00 by 1:1:2 is 0.25, 0.25, 0.50 exactly; 1.01 leaves one cent whose
    // largest remainder (0.505) is the third member's whatever the rotation.
    for r in 0..3 {
        let s = allocate(101, &[1, 1, 2], Rotation(r)).unwrap();
        assert_eq!(s, vec![25, 25, 51]);
    }
}

#[test]
fn the_start_of_the_tie_break_differs_between_transactions() {
    let starts: std::collections::HashSet<u64> = (0..50).map(|_| Rotation::of(Uuid::now_v7()).0 % 3).collect();
    assert_eq!(
        starts.len(),
        3,
        "fifty transactions start their tie-breaks at every member"
    );
}

#[test]
fn shares_percentages_and_exact() {
    let u = users(3);
    let ask = |vals: [&str; 3]| -> Vec<Asked> {
        u.iter()
            .zip(vals)
            .map(|(u, v)| Asked {
                user: *u,
                value: Some(dec(v)),
            })
            .collect()
    };
    let shares = split(
        money("100.00"),
        SplitMode::Shares,
        &ask(["1", "1", "2.5"]),
        &u,
        Rotation(0),
    )
    .unwrap();
    assert_eq!(amounts(&shares), ["22.22", "22.22", "55.56"]);
    let pct = split(
        money("80.00"),
        SplitMode::Percentages,
        &ask(["50", "25", "25"]),
        &u,
        Rotation(0),
    )
    .unwrap();
    assert_eq!(amounts(&pct), ["40.00", "20.00", "20.00"]);
    let exact = split(
        money("10.00"),
        SplitMode::Exact,
        &ask(["1.00", "0.00", "9.00"]),
        &u,
        Rotation(0),
    )
    .unwrap();
    assert_eq!(amounts(&exact), ["1.00", "0.00", "9.00"]);
    assert_eq!(exact[2].value, Some(dec("9.00")));
}

#[test]
fn bad_requests_name_their_fields() {
    let u = users(3);
    let outsider = UserId(Uuid::from_u128(99));
    let fields = |mode, asked: Vec<Asked>, amount: &str| -> Vec<String> {
        split(money(amount), mode, &asked, &u, Rotation(0))
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    let a = |user, v: Option<&str>| Asked {
        user,
        value: v.map(dec),
    };
    assert_eq!(
        fields(
            SplitMode::Exact,
            vec![a(u[0], Some("4.00")), a(u[1], Some("5.00"))],
            "10.00"
        ),
        ["shares"],
        "amounts that do not sum"
    );
    assert_eq!(
        fields(
            SplitMode::Exact,
            vec![a(u[0], Some("-1.00")), a(u[1], Some("11.00"))],
            "10.00"
        ),
        ["shares[0].value"]
    );
    assert_eq!(
        fields(
            SplitMode::Percentages,
            vec![a(u[0], Some("101")), a(u[1], Some("-1"))],
            "10.00"
        ),
        ["shares[0].value", "shares[1].value"]
    );
    assert_eq!(
        fields(
            SplitMode::Percentages,
            vec![a(u[0], Some("60")), a(u[1], Some("50"))],
            "10.00"
        ),
        ["shares"],
        "percentages over 100 in total"
    );
    assert_eq!(
        fields(SplitMode::Equal, vec![a(outsider, None)], "10.00"),
        ["shares[0].userId"]
    );
    assert_eq!(
        fields(SplitMode::Equal, vec![a(u[0], None), a(u[0], None)], "10.00"),
        ["shares[1].userId"]
    );
    assert_eq!(
        fields(SplitMode::Equal, vec![a(u[0], Some("1"))], "10.00"),
        ["shares[0].value"]
    );
    assert_eq!(
        fields(SplitMode::Shares, vec![a(u[0], None)], "10.00"),
        ["shares[0].value"]
    );
    assert_eq!(
        fields(SplitMode::Shares, vec![a(u[0], Some("0.00001"))], "10.00"),
        ["shares[0].value"]
    );
    assert_eq!(fields(SplitMode::Equal, vec![], "10.00"), ["shares"]);
    assert_eq!(fields(SplitMode::LineItems, vec![a(u[0], None)], "10.00"), ["mode"]);
}

#[test]
fn line_items_carry_tax_and_rounding_in_proportion() {
    let u = users(3);
    // Items 10.00 (first), 20.00 (second and third), 5.00 (nobody), paid 38.50
    // with a surcharge: 35.00 of items becomes 38.50, each member's part * 1.1.
    let items = vec![
        LineItem {
            amount: money("10.00"),
            users: vec![u[0]],
        },
        LineItem {
            amount: money("20.00"),
            users: vec![u[1], u[2]],
        },
        LineItem {
            amount: money("5.00"),
            users: vec![],
        },
    ];
    let s = split_line_items(money("38.50"), &items, &u, Rotation(0)).unwrap();
    assert_eq!(amounts(&s), ["12.84", "12.83", "12.83"]);
    assert_eq!(total(&s), money("38.50"));
    assert_eq!(s[0].value, Some(dec("10.00")));
    let outsider = UserId(Uuid::from_u128(99));
    let bad = vec![LineItem {
        amount: money("1.00"),
        users: vec![outsider],
    }];
    let err = split_line_items(money("1.00"), &bad, &u, Rotation(0)).unwrap_err();
    assert_eq!(err[0].field, "lineItems[0].userIds[0]");
    assert_eq!(
        split_line_items(money("1.00"), &[], &u, Rotation(0)).unwrap_err()[0].field,
        "lineItems"
    );
}

#[test]
fn partial_refunds_never_return_more_than_was_paid() {
    // 0.03 paid as 0.02 and 0.01, refunded a cent at a time: the naive pro rata of
    // the original would give the first member all three cents.
    let u = users(2);
    let mut remaining = vec![(u[0], money("0.02")), (u[1], money("0.01"))];
    for r in 0..3 {
        let back = reverse(money("0.01"), &remaining, Rotation(r)).unwrap();
        for (rem, b) in remaining.iter_mut().zip(&back) {
            rem.1 = rem.1.checked_sub(b.amount).unwrap();
            assert!(rem.1 >= Money::ZERO);
        }
    }
    assert!(remaining.iter().all(|(_, m)| *m == Money::ZERO));
    assert_eq!(reverse(money("1.00"), &remaining, Rotation(0)), None);
}

#[test]
fn default_weights_of_zero_fall_back_to_equal() {
    let u = users(2);
    let s = by_weights(money("1.01"), &[(u[1], dec("0")), (u[0], dec("0"))], Rotation(0)).unwrap();
    assert_eq!(amounts(&s), ["0.51", "0.50"]);
    assert_eq!(by_weights(money("1.00"), &[], Rotation(0)), None);
}

fn mode() -> impl Strategy<Value = SplitMode> {
    prop_oneof![
        Just(SplitMode::Equal),
        Just(SplitMode::Shares),
        Just(SplitMode::Percentages),
        Just(SplitMode::Exact),
    ]
}

/// A valid request in `mode` for `n` members and `amount`: weights from the seed,
/// percentages and exact amounts made to sum by allocating them.
fn request(mode: SplitMode, amount: Money, seeds: &[u32], rotation: Rotation) -> Vec<Asked> {
    let u = users(seeds.len());
    let weights: Vec<i128> = seeds.iter().map(|s| i128::from(s % 1000) + 1).collect();
    let values: Vec<Option<Decimal>> = match mode {
        SplitMode::Equal | SplitMode::LineItems => vec![None; seeds.len()],
        SplitMode::Shares => weights.iter().map(|w| Some(Decimal::new(*w as i64, 2))).collect(),
        SplitMode::Percentages => allocate(1_000_000, &weights, rotation)
            .unwrap()
            .into_iter()
            .map(|c| Some(Decimal::new(c, 4)))
            .filter(|v| v.is_some())
            .collect(),
        SplitMode::Exact => allocate(amount.cents(), &weights, rotation)
            .unwrap()
            .into_iter()
            .map(|c| Some(Money::from_cents(c).as_decimal()))
            .collect(),
    };
    u.into_iter()
        .zip(values)
        .map(|(user, value)| Asked { user, value })
        .collect()
}

#[test]
fn values_are_plain_decimals() {
    for ok in ["0", "1", "2.5", "10.00", "33.3333", "12345678901234"] {
        assert!(parse_value(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "01",
        "-1",
        "+1",
        "1.",
        ".5",
        "1.23456",
        " 1",
        "1e3",
        "123456789012345",
        "NaN",
    ] {
        assert!(parse_value(bad).is_err(), "{bad}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]


    #[test]
    fn allocation_is_exact_fair_and_never_negative(
        cents in 0i64..=10_000_000_000_000_000,
        weights in prop::collection::vec(0i128..1_000_000, 1..1000),
        rotation in any::<u64>(),
    ) {
        let total: i128 = weights.iter().sum();
        prop_assume!(total > 0);
        let parts = allocate(cents, &weights, Rotation(rotation)).unwrap();
        prop_assert_eq!(parts.iter().map(|p| i128::from(*p)).sum::<i128>(), i128::from(cents));
        for (p, w) in parts.iter().zip(&weights) {
            let floor = i128::from(cents) * w / total;
            prop_assert!(i128::from(*p) == floor || i128::from(*p) == floor + 1);
            prop_assert!(*w > 0 || *p == 0);
        }
    }

    #[test]
    fn every_mode_sums_to_the_amount(
        cents in 1i64..=100_000_000_000,
        seeds in prop::collection::vec(any::<u32>(), 1..=1000),
        mode in mode(),
        rotation in any::<u64>(),
    ) {
        let amount = Money::from_cents(cents);
        let eligible = users(seeds.len());
        let asked = request(mode, amount, &seeds, Rotation(rotation));
        // Some generated percentages can be 0 (a tiny weight among many), which
        // the rules refuse; those cases are not about summing.
        let result = split(amount, mode, &asked, &eligible, Rotation(rotation));
        prop_assume!(result.is_ok() || mode != SplitMode::Percentages);
        let shares = result.unwrap();
        prop_assert_eq!(total(&shares), amount);
        prop_assert!(shares.iter().all(|s| s.amount >= Money::ZERO));
        prop_assert_eq!(shares.len(), seeds.len());
    }

    #[test]
    fn line_items_sum_to_the_amount(
        cents in 1i64..=10_000_000,
        items in prop::collection::vec((-500i64..50_000, prop::collection::vec(0usize..20, 0..5)), 1..40),
        rotation in any::<u64>(),
    ) {
        let u = users(20);
        let items: Vec<LineItem> = items
            .into_iter()
            .map(|(c, who)| {
                let mut users: Vec<UserId> = who.into_iter().map(|i| u[i]).collect();
                users.sort();
                users.dedup();
                LineItem { amount: Money::from_cents(c), users }
            })
            .collect();
        match split_line_items(Money::from_cents(cents), &items, &u, Rotation(rotation)) {
            Ok(shares) => {
                prop_assert_eq!(total(&shares), Money::from_cents(cents));
                prop_assert!(shares.iter().all(|s| s.amount >= Money::ZERO));
            }
            Err(e) => prop_assert_eq!(e[0].field.as_str(), "lineItems"),
        }
    }

    #[test]
    fn refunds_in_parts_return_exactly_what_was_paid(
        paid in prop::collection::vec(0i64..100_000, 1..50),
        parts in prop::collection::vec(1i64..10_000, 1..10),
        rotation in any::<u64>(),
    ) {
        let u = users(paid.len());
        let spent: i64 = paid.iter().sum();
        prop_assume!(spent > 0);
        let mut remaining: Vec<(UserId, Money)> =
            u.iter().zip(&paid).map(|(u, c)| (*u, Money::from_cents(*c))).collect();
        let mut left = spent;
        for (k, part) in parts.iter().enumerate() {
            // The last refund returns whatever is left: a full refund in the end.
            let part = if k + 1 == parts.len() { left } else { (*part).min(left) };
            if part == 0 { break; }
            let back = reverse(Money::from_cents(part), &remaining, Rotation(rotation.wrapping_add(k as u64))).unwrap();
            prop_assert_eq!(total(&back), Money::from_cents(part));
            for (rem, b) in remaining.iter_mut().zip(&back) {
                prop_assert_eq!(rem.0, b.user);
                rem.1 = rem.1.checked_sub(b.amount).unwrap();
                prop_assert!(rem.1 >= Money::ZERO, "a member got back more than their share");
            }
            left -= part;
        }
        prop_assert!(remaining.iter().all(|(_, m)| *m == Money::ZERO));
    }
}
