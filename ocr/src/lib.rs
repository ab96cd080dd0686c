//! Reading receipts: images decoded within limits, PDFs rasterised by poppler's
//! `pdftoppm` (pages capped, time-limited), and text read by Tesseract through its
//! C API with a deadline, so no upload can hang a worker.
//!
//! - [`read`]: a receipt's bytes in, its text out.
//! - `tesseract`: the C API boundary, this crate's only unsafe code.
//! - `pdf`: page count and rasterisation with poppler's tools.

#[allow(unsafe_code)]
mod tesseract;

mod pdf;

use image::GrayImage;
use kttipay_domain::receipt::{self, RECEIPT_MAX_SIDE_PX, ReceiptFormat};
use std::io::Cursor;
use std::time::{Duration, Instant};

/// The whole of one receipt's reading, every page included.
pub const OCR_TIME_LIMIT_SECS: u64 = 60;
/// Most memory the image decoder may take for one page.
pub const DECODE_MAX_ALLOC_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// The file cannot be read (not an image, a bomb, too many pages, too slow):
    /// final, and the reason is for people.
    #[error("{0}")]
    Unreadable(String),
    /// Our side failed (a tool or language data missing, a scratch file): worth
    /// trying again once fixed.
    #[error("{0}")]
    Failed(String),
}

/// The text of a receipt in `format`.
pub async fn read(bytes: Vec<u8>, format: ReceiptFormat) -> Result<String, OcrError> {
    let deadline = Instant::now() + Duration::from_secs(OCR_TIME_LIMIT_SECS);
    let pages = match format {
        ReceiptFormat::Pdf => pdf::rasterise(&bytes, deadline).await?,
        ReceiptFormat::Jpeg | ReceiptFormat::Png => vec![bytes],
    };
    let mut text = String::new();
    for page in pages {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(too_slow());
        }
        let gray = decode(&page)?;
        let page_text = tokio::task::spawn_blocking(move || tesseract::recognise(&gray, left))
            .await
            .map_err(|e| OcrError::Failed(format!("the OCR thread failed: {e}")))??;
        text.push_str(&page_text);
        text.push('\n');
    }
    Ok(text)
}

fn too_slow() -> OcrError {
    OcrError::Unreadable(format!("reading the receipt took longer than {OCR_TIME_LIMIT_SECS} s"))
}

/// One page as 8-bit grey, after its header's size passed the limits: a
/// decompression bomb is refused before a byte of it is inflated.
fn decode(bytes: &[u8]) -> Result<GrayImage, OcrError> {
    let unreadable = |why: String| OcrError::Unreadable(why);
    let format = receipt::sniff(bytes).ok_or_else(|| unreadable("the file is not a JPEG, PNG or PDF".into()))?;
    let (w, h) =
        receipt::dimensions(bytes, format).ok_or_else(|| unreadable("the image's header is unreadable".into()))?;
    receipt::check_dimensions(w, h).map_err(unreadable)?;
    let mut reader = image::ImageReader::new(Cursor::new(bytes));
    reader.set_format(match format {
        ReceiptFormat::Png => image::ImageFormat::Png,
        _ => image::ImageFormat::Jpeg,
    });
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(RECEIPT_MAX_SIDE_PX);
    limits.max_image_height = Some(RECEIPT_MAX_SIDE_PX);
    limits.max_alloc = Some(DECODE_MAX_ALLOC_BYTES);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| unreadable(format!("the image could not be decoded: {e}")))?;
    Ok(image.to_luma8())
}
