//! The receipt reader on layouts Australian shops print, and the checks that
//! run before anything decodes an upload.

use super::*;
use std::str::FromStr;

fn m(s: &str) -> Money {
    Money::from_str(s).unwrap()
}

fn items(r: &ParsedReceipt) -> Vec<(String, String, String)> {
    r.items
        .iter()
        .map(|i| {
            (
                i.description.clone(),
                i.quantity.normalize().to_string(),
                i.amount.to_string(),
            )
        })
        .collect()
}

#[test]
fn a_cafe_docket_with_gst_surcharge_and_tender() {
    let text = "\
        THE CORNER CAFE\n\
        TAX INVOICE ABN 12 345 678 901\n\
        14/03/2026 12:41\n\
        Flat White         4.50\n\
        2 x Croissant 5.00 10.00\n\
        Avocado Toast      18.00 A\n\
        Loyalty discount   2.00-\n\
        SUBTOTAL           30.50\n\
        Card surcharge     0.46\n\
        TOTAL             $30.96\n\
        GST included       2.81\n\
        EFTPOS            30.96\n\
        CHANGE             0.00\n";
    let r = parse(text);
    assert_eq!(r.merchant.as_deref(), Some("THE CORNER CAFE"));
    assert_eq!(r.date, NaiveDate::from_ymd_opt(2026, 3, 14));
    assert_eq!(
        (r.subtotal, r.total, r.tax),
        (Some(m("30.50")), Some(m("30.96")), Some(m("2.81")))
    );
    assert_eq!(
        items(&r),
        [
            ("Flat White".into(), "1".into(), "4.50".into()),
            ("Croissant".into(), "2".into(), "10.00".into()),
            ("Avocado Toast".into(), "1".into(), "18.00".into()),
            ("Loyalty discount".into(), "1".into(), "-2.00".into()),
        ]
    );
    assert_eq!(r.items[1].unit_price, Some(m("5.00")));
}

#[test]
fn a_supermarket_docket_with_total_inc_gst_and_rounding() {
    let text = "\
        Woolworths Metro\n\
        Date: 2026-01-05\n\
        MILK 2L                 $3.10\n\
        BREAD WHOLEMEAL         $4.50\n\
        QTY 3 BANANAS           $2.40\n\
        Rounding               -$0.02\n\
        TOTAL (inc GST)        $9.98\n\
        TOTAL GST               $0.41\n\
        VISA                    $9.98\n";
    let r = parse(text);
    assert_eq!(r.merchant.as_deref(), Some("Woolworths Metro"));
    assert_eq!(r.date, NaiveDate::from_ymd_opt(2026, 1, 5));
    assert_eq!((r.total, r.tax), (Some(m("9.98")), Some(m("0.41"))));
    assert_eq!(r.items.len(), 3, "{r:?}");
    assert_eq!(r.items[2].quantity, Decimal::from(3));
    assert_eq!(r.items[2].description, "BANANAS");
}

#[test]
fn dates_in_the_forms_receipts_print() {
    for (line, ymd) in [
        ("14/03/26 09:00", (2026, 3, 14)),
        ("Date 7-11-2025", (2025, 11, 7)),
        ("14 Mar 2026", (2026, 3, 14)),
        ("14-MAR-26", (2026, 3, 14)),
        ("2026.02.28", (2026, 2, 28)),
    ] {
        assert_eq!(date_in(line), NaiveDate::from_ymd_opt(ymd.0, ymd.1, ymd.2), "{line}");
    }
    assert_eq!(date_in("31/02/2026"), None, "no such day");
}

#[test]
fn noise_is_skipped_not_fatal() {
    let r = parse("~~~ ## \n\n 12.50 \n $$$ \n TOTAL 12.50\n");
    assert_eq!(r.total, Some(m("12.50")));
    assert!(r.items.is_empty());
    assert_eq!(parse(""), ParsedReceipt::default());
}

#[test]
fn files_are_known_by_their_bytes() {
    assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(ReceiptFormat::Jpeg));
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(ReceiptFormat::Png));
    assert_eq!(sniff(b"%PDF-1.7"), Some(ReceiptFormat::Pdf));
    assert_eq!(sniff(b"GIF89a"), None);
    assert_eq!(sniff(b""), None);
}

#[test]
fn image_sizes_are_read_from_headers_and_bombs_refused() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&50_000u32.to_be_bytes());
    png.extend_from_slice(&50_000u32.to_be_bytes());
    assert_eq!(dimensions(&png, ReceiptFormat::Png), Some((50_000, 50_000)));
    assert!(check_dimensions(50_000, 50_000).is_err());
    assert!(check_dimensions(8_000, 6_000).is_err(), "48 megapixels");
    assert!(check_dimensions(3_000, 4_000).is_ok());
    assert!(check_dimensions(0, 10).is_err());
    // A JPEG: SOI, an APP0 segment, then SOF0 with height 600 and width 800.
    let jpeg = [
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20,
    ];
    assert_eq!(dimensions(&jpeg, ReceiptFormat::Jpeg), Some((800, 600)));
    assert_eq!(dimensions(&jpeg[..10], ReceiptFormat::Jpeg), None, "truncated");
}

proptest::proptest! {
    #[test]
    fn any_text_reads_without_panicking(s in "(?s).{0,400}") {
        let r = parse(&s);
        proptest::prop_assert!(r.items.len() <= LINE_ITEMS_MAX);
    }

    #[test]
    fn any_bytes_sniff_and_size_without_panicking(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        for f in [ReceiptFormat::Jpeg, ReceiptFormat::Png, ReceiptFormat::Pdf] {
            let _ = dimensions(&b, f);
        }
        let _ = sniff(&b);
    }
}
