//! Receipts: what a file is (sniffed from its bytes, never trusted from a header),
//! how big an image claims to be before anything decodes it, and what the text
//! OCR read says (merchant, date, totals, line items) in common Australian layouts.
//!
//! The parser is deliberately forgiving: OCR text is noisy, so a line it cannot
//! place is skipped rather than failing the receipt, and everything it reads stays
//! editable by hand.

use crate::Money;
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Largest receipt file accepted.
pub const RECEIPT_MAX_BYTES: usize = 10 * 1024 * 1024;
/// Most pixels an image may claim; a small file claiming more is a
/// decompression bomb, refused before anything decodes it.
pub const RECEIPT_MAX_PIXELS: u64 = 40_000_000;
/// Longest side an image may claim, in pixels.
pub const RECEIPT_MAX_SIDE_PX: u32 = 12_000;
/// Most pages of a PDF receipt that are read; a longer PDF fails cleanly.
pub const PDF_MAX_PAGES: u32 = 10;
/// Most line items kept from one receipt.
pub const LINE_ITEMS_MAX: usize = 200;
/// Longest line item description kept.
pub const DESCRIPTION_MAX_CHARS: usize = 200;

/// What a receipt file is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptFormat {
    Jpeg,
    Png,
    Pdf,
}

impl ReceiptFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ReceiptFormat::Jpeg => "image/jpeg",
            ReceiptFormat::Png => "image/png",
            ReceiptFormat::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ReceiptFormat::Jpeg => "jpg",
            ReceiptFormat::Png => "png",
            ReceiptFormat::Pdf => "pdf",
        }
    }

    pub fn from_content_type(ct: &str) -> Option<ReceiptFormat> {
        match ct {
            "image/jpeg" => Some(ReceiptFormat::Jpeg),
            "image/png" => Some(ReceiptFormat::Png),
            "application/pdf" => Some(ReceiptFormat::Pdf),
            _ => None,
        }
    }
}

/// The format of `bytes` by its magic number, whatever the upload said it was.
pub fn sniff(bytes: &[u8]) -> Option<ReceiptFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ReceiptFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ReceiptFormat::Png)
    } else if bytes.starts_with(b"%PDF-") {
        Some(ReceiptFormat::Pdf)
    } else {
        None
    }
}

/// The width and height an image's header claims, read without decoding it.
pub fn dimensions(bytes: &[u8], format: ReceiptFormat) -> Option<(u32, u32)> {
    let be16 = |i: usize| -> Option<u32> { Some(u32::from(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]))) };
    let be32 = |i: usize| -> Option<u32> { Some(u32::from_be_bytes(bytes.get(i..i + 4)?.try_into().ok()?)) };
    match format {
        ReceiptFormat::Png => (bytes.get(12..16)? == b"IHDR").then_some((be32(16)?, be32(20)?)),
        ReceiptFormat::Jpeg => {
            // Walk the segments to the first start-of-frame, which carries the size.
            let mut i = 2;
            loop {
                if *bytes.get(i)? != 0xFF {
                    return None;
                }
                let marker = *bytes.get(i + 1)?;
                match marker {
                    0xFF => i += 1,
                    0x01 | 0xD0..=0xD7 => i += 2,
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                        return Some((be16(i + 7)?, be16(i + 5)?));
                    }
                    _ => i += 2 + be16(i + 2)? as usize,
                }
            }
        }
        ReceiptFormat::Pdf => None,
    }
}

/// Why an image is refused before decoding.
pub fn check_dimensions(width: u32, height: u32) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err("the image has no pixels".into());
    }
    if width > RECEIPT_MAX_SIDE_PX || height > RECEIPT_MAX_SIDE_PX {
        return Err(format!(
            "the image is {width}x{height} pixels; each side may be at most {RECEIPT_MAX_SIDE_PX}"
        ));
    }
    if u64::from(width) * u64::from(height) > RECEIPT_MAX_PIXELS {
        return Err(format!(
            "the image is {width}x{height} pixels; at most {RECEIPT_MAX_PIXELS} pixels are read"
        ));
    }
    Ok(())
}

/// One line item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedItem {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Option<Money>,
    /// Negative for a discount.
    pub amount: Money,
}

/// What a receipt's text says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedReceipt {
    pub merchant: Option<String>,
    pub date: Option<NaiveDate>,
    pub subtotal: Option<Money>,
    pub tax: Option<Money>,
    pub total: Option<Money>,
    pub items: Vec<ParsedItem>,
}

/// What a line with an amount is, by its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Subtotal,
    Total,
    Tax,
    /// Card surcharges and cash rounding: part of the amount paid, spread over
    /// the items in proportion rather than an item of their own.
    Adjustment,
    /// Tender, change, card details: not about what was bought.
    Payment,
    Discount,
    Item,
}

fn kind_of(upper: &str) -> LineKind {
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let first = words.first().copied().unwrap_or("");
    let second = words.get(1).copied().unwrap_or("");
    if first == "SUBTOTAL" || (first == "SUB" && second == "TOTAL") {
        LineKind::Subtotal
    } else if first == "TOTAL" && (second == "GST" || second == "TAX") {
        LineKind::Tax
    } else if first == "TOTAL" || upper.contains("AMOUNT DUE") || upper.contains("BALANCE DUE") {
        LineKind::Total
    } else if has("GST") || has("TAX") {
        LineKind::Tax
    } else if has("SURCHARGE") || has("ROUNDING") || has("TIP") || (has("CARD") && has("FEE")) {
        LineKind::Adjustment
    } else if [
        "EFTPOS",
        "VISA",
        "MASTERCARD",
        "AMEX",
        "CASH",
        "CHANGE",
        "TENDERED",
        "PAID",
        "CARD",
        "DEBIT",
        "CREDIT",
        "AUTH",
        "APPROVED",
        "ACCOUNT",
    ]
    .iter()
    .any(|w| has(w))
    {
        LineKind::Payment
    } else if has("DISCOUNT") || has("LESS") || has("SAVE") || has("SAVING") || has("PROMO") {
        LineKind::Discount
    } else {
        LineKind::Item
    }
}

/// A money token as OCR prints it: `12.50`, `$12.50`, `12,50`, `-2.00`, `2.00-`.
fn money_token(token: &str) -> Option<Money> {
    let t = token.trim_matches(|c: char| c == '$' || c == '*');
    let (negative, t) = if let Some(rest) = t.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = t.strip_suffix('-') {
        (true, rest)
    } else {
        (false, t)
    };
    let t = t.trim_start_matches('$');
    let (whole, cents) = t.rsplit_once(['.', ','])?;
    let whole = whole.replace(',', "");
    if whole.is_empty()
        || whole.len() > 7
        || cents.len() != 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !cents.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let value: i64 = format!("{whole}{cents}").parse().ok()?;
    Some(Money::from_cents(if negative { -value } else { value }))
}

/// The amount a line ends with (a trailing tax flag such as `A` or `#` allowed),
/// and the text before it.
fn trailing_amount(line: &str) -> Option<(String, Money)> {
    let mut tokens: Vec<&str> = line.split_whitespace().collect();
    if tokens
        .last()
        .is_some_and(|t| t.len() <= 2 && !t.bytes().any(|b| b.is_ascii_digit()))
    {
        tokens.pop();
    }
    let last = tokens.pop()?;
    let amount = money_token(last).or_else(|| {
        // "$ 12.50": the sign split from the number.
        let before = tokens.last()?;
        (*before == "$").then(|| money_token(last)).flatten()
    })?;
    if tokens.last() == Some(&"$") {
        tokens.pop();
    }
    Some((tokens.join(" "), amount))
}

/// `2 x 3.50`, `2 @ $3.50`, `QTY 2`: a quantity and maybe a unit price in the text.
fn quantity_of(text: &str) -> (String, Decimal, Option<Money>) {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    // "2 x Croissant 5.00": the count first, the unit price last.
    if tokens.len() >= 3
        && matches!(tokens[1].to_ascii_lowercase().as_str(), "x" | "@")
        && let Ok(q) = tokens[0].parse::<Decimal>()
        && q > Decimal::ZERO
    {
        let price = tokens.last().and_then(|t| money_token(t));
        let end = if price.is_some() {
            tokens.len() - 1
        } else {
            tokens.len()
        };
        return (tokens[2..end].join(" "), q, price);
    }
    for (i, t) in tokens.iter().enumerate() {
        let lower = t.to_ascii_lowercase();
        if (lower == "x" || lower == "@") && i > 0 && i + 1 < tokens.len() {
            let qty: Option<Decimal> = tokens[i - 1].parse().ok();
            let price = money_token(tokens[i + 1]);
            if let (Some(q), Some(p)) = (qty, price)
                && q > Decimal::ZERO
            {
                let mut rest: Vec<&str> = tokens[..i - 1].to_vec();
                rest.extend_from_slice(&tokens[i + 2..]);
                return (rest.join(" "), q, Some(p));
            }
        }
        if (lower == "qty" || lower == "qty:")
            && i + 1 < tokens.len()
            && let Ok(q) = tokens[i + 1].parse::<Decimal>()
            && q > Decimal::ZERO
        {
            let mut rest: Vec<&str> = tokens[..i].to_vec();
            rest.extend_from_slice(&tokens[i + 2..]);
            return (rest.join(" "), q, None);
        }
    }
    (text.to_string(), Decimal::ONE, None)
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// A date in the forms Australian receipts print: `14/03/2026`, `14-03-26`,
/// `2026-03-14`, `14 Mar 2026`, `14-MAR-26` (day before month).
fn date_in(line: &str) -> Option<NaiveDate> {
    let year = |y: &str| -> Option<i32> {
        let n: i32 = y.parse().ok()?;
        match y.len() {
            2 => Some(2000 + n),
            4 => Some(n),
            _ => None,
        }
    };
    for token in line.split_whitespace() {
        let token = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let parts: Vec<&str> = token.split(['/', '-', '.']).collect();
        if parts.len() != 3 {
            continue;
        }
        let parsed = if parts[0].len() == 4 {
            NaiveDate::from_ymd_opt(year(parts[0])?, parts[1].parse().ok()?, parts[2].parse().ok()?)
        } else {
            let month = parts[1].parse().ok().or_else(|| {
                MONTHS
                    .iter()
                    .position(|m| parts[1].to_ascii_uppercase().starts_with(m))
                    .map(|i| i as u32 + 1)
            });
            match (parts[0].parse().ok(), month, year(parts[2])) {
                (Some(d), Some(m), Some(y)) => NaiveDate::from_ymd_opt(y, m, d),
                _ => None,
            }
        };
        if parsed.is_some() {
            return parsed;
        }
    }
    // "14 Mar 2026"
    let words: Vec<&str> = line.split_whitespace().collect();
    for w in words.windows(3) {
        let month = MONTHS.iter().position(|m| w[1].to_ascii_uppercase().starts_with(m));
        if let (Ok(d), Some(m), Some(y)) = (w[0].parse::<u32>(), month, year(w[2].trim_matches(','))) {
            return NaiveDate::from_ymd_opt(y, m as u32 + 1, d);
        }
    }
    None
}

/// Lines that name the shop's papers rather than the shop.
fn is_boilerplate(upper: &str) -> bool {
    ["TAX INVOICE", "ABN", "RECEIPT", "PHONE", "TEL", "WWW", "HTTP", "@"]
        .iter()
        .any(|w| upper.contains(w))
}

/// Reads a receipt's OCR text.
pub fn parse(text: &str) -> ParsedReceipt {
    let mut out = ParsedReceipt::default();
    for raw in text.lines() {
        let line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            continue;
        }
        let upper = line.to_ascii_uppercase();
        if out.date.is_none()
            && let Some(d) = date_in(&line)
        {
            out.date = Some(d);
            continue;
        }
        let Some((text, amount)) = trailing_amount(&line) else {
            let letters = line.chars().filter(|c| c.is_alphabetic()).count();
            if out.merchant.is_none() && out.items.is_empty() && letters >= 3 && !is_boilerplate(&upper) {
                out.merchant = Some(line.chars().take(DESCRIPTION_MAX_CHARS).collect());
            }
            continue;
        };
        match kind_of(&upper) {
            LineKind::Subtotal => out.subtotal = Some(amount),
            LineKind::Tax => out.tax = out.tax.or(Some(amount)),
            LineKind::Total => {
                // The first total after the items; later ones repeat it on the tender part.
                if out.total.is_none() {
                    out.total = Some(amount);
                }
            }
            LineKind::Adjustment | LineKind::Payment => {}
            LineKind::Discount | LineKind::Item if out.total.is_some() => {}
            LineKind::Discount => {
                let negative = if amount > Money::ZERO {
                    Money::from_cents(-amount.cents())
                } else {
                    amount
                };
                push_item(&mut out, text, Decimal::ONE, None, negative);
            }
            LineKind::Item => {
                let (description, quantity, unit_price) = quantity_of(&text);
                if description.chars().filter(|c| c.is_alphabetic()).count() >= 2 {
                    push_item(&mut out, description, quantity, unit_price, amount);
                }
            }
        }
    }
    out
}

fn push_item(
    out: &mut ParsedReceipt,
    description: String,
    quantity: Decimal,
    unit_price: Option<Money>,
    amount: Money,
) {
    if out.items.len() < LINE_ITEMS_MAX {
        out.items.push(ParsedItem {
            description: description.chars().take(DESCRIPTION_MAX_CHARS).collect(),
            quantity,
            unit_price,
            amount,
        });
    }
}

#[cfg(test)]
mod tests;
