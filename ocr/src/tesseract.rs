//! Tesseract through its C API (`libtesseract`, Debian's `libtesseract5`): one
//! engine per page, English data from the system (`tesseract-ocr-eng`), and a
//! deadline the engine itself checks while it works, so a pathological image
//! ends the attempt instead of a worker thread.
//!
//! Unsafe code is confined to this file. Every pointer handed to C lives for the
//! call that uses it: the image's pixels outlive `Recognize` (they are borrowed
//! for the whole function), and each handle is freed exactly once by its guard.

use crate::OcrError;
use image::GrayImage;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::time::Duration;

#[link(name = "tesseract")]
unsafe extern "C" {
    fn TessBaseAPICreate() -> *mut c_void;
    fn TessBaseAPIDelete(handle: *mut c_void);
    fn TessBaseAPIInit3(handle: *mut c_void, datapath: *const c_char, language: *const c_char) -> c_int;
    fn TessBaseAPISetVariable(handle: *mut c_void, name: *const c_char, value: *const c_char) -> c_int;
    fn TessBaseAPISetPageSegMode(handle: *mut c_void, mode: c_int);
    fn TessBaseAPISetImage(
        handle: *mut c_void,
        data: *const u8,
        width: c_int,
        height: c_int,
        bytes_per_pixel: c_int,
        bytes_per_line: c_int,
    );
    fn TessBaseAPISetSourceResolution(handle: *mut c_void, ppi: c_int);
    fn TessBaseAPIRecognize(handle: *mut c_void, monitor: *mut c_void) -> c_int;
    fn TessBaseAPIGetUTF8Text(handle: *mut c_void) -> *mut c_char;
    fn TessDeleteText(text: *const c_char);
    fn TessMonitorCreate() -> *mut c_void;
    fn TessMonitorDelete(monitor: *mut c_void);
    fn TessMonitorSetDeadlineMSecs(monitor: *mut c_void, deadline: c_int);
}

/// A receipt is one block of lines, a description and its price far apart on
/// each: read as a single uniform block (Tesseract's PSM 6), which keeps each
/// price on its line. Column-finding modes (3, 4) tear the prices away into a
/// column of their own.
const PAGE_SEG_MODE_SINGLE_BLOCK: c_int = 6;
/// Scans and renders are about this dense; Tesseract warns and guesses without it.
const ASSUMED_PPI: c_int = 300;

struct Engine(*mut c_void);

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: created by TessBaseAPICreate, deleted once, here.
        unsafe { TessBaseAPIDelete(self.0) }
    }
}

struct Monitor(*mut c_void);

impl Drop for Monitor {
    fn drop(&mut self) {
        // SAFETY: created by TessMonitorCreate, deleted once, here.
        unsafe { TessMonitorDelete(self.0) }
    }
}

/// The text of one grey page, read within `time`.
pub fn recognise(page: &GrayImage, time: Duration) -> Result<String, OcrError> {
    let (width, height) = page.dimensions();
    let (w, h) = (
        c_int::try_from(width).map_err(|_| OcrError::Unreadable("the page is too wide".into()))?,
        c_int::try_from(height).map_err(|_| OcrError::Unreadable("the page is too tall".into()))?,
    );
    let deadline_ms = c_int::try_from(time.as_millis()).unwrap_or(c_int::MAX);
    // SAFETY: a fresh engine, checked for null before use.
    let engine = Engine(unsafe { TessBaseAPICreate() });
    if engine.0.is_null() {
        return Err(OcrError::Failed("Tesseract could not start".into()));
    }
    // SAFETY: the engine is live; the strings are NUL-terminated literals.
    unsafe {
        if TessBaseAPIInit3(engine.0, std::ptr::null(), c"eng".as_ptr()) != 0 {
            return Err(OcrError::Failed(
                "Tesseract has no English data (install tesseract-ocr-eng)".into(),
            ));
        }
        // Keeps the gap between a description and its price, which the parser reads.
        TessBaseAPISetVariable(engine.0, c"preserve_interword_spaces".as_ptr(), c"1".as_ptr());
        TessBaseAPISetPageSegMode(engine.0, PAGE_SEG_MODE_SINGLE_BLOCK);
        // One byte per pixel, rows packed: exactly a GrayImage's buffer, which
        // outlives this function's use of it.
        TessBaseAPISetImage(engine.0, page.as_raw().as_ptr(), w, h, 1, w);
        TessBaseAPISetSourceResolution(engine.0, ASSUMED_PPI);
    }
    // SAFETY: a fresh monitor, checked for null before use.
    let monitor = Monitor(unsafe { TessMonitorCreate() });
    if monitor.0.is_null() {
        return Err(OcrError::Failed("Tesseract could not start a monitor".into()));
    }
    // SAFETY: engine and monitor are live; the image set above is still borrowed.
    let status = unsafe {
        TessMonitorSetDeadlineMSecs(monitor.0, deadline_ms);
        TessBaseAPIRecognize(engine.0, monitor.0)
    };
    if status != 0 {
        return Err(crate::too_slow());
    }
    // SAFETY: the engine recognised a page; the text it returns is ours to free
    // with TessDeleteText, after copying it.
    let text = unsafe {
        let raw = TessBaseAPIGetUTF8Text(engine.0);
        if raw.is_null() {
            return Ok(String::new());
        }
        let text = CStr::from_ptr(raw).to_string_lossy().into_owned();
        TessDeleteText(raw);
        text
    };
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page Tesseract would spend seconds on (speckle over a large page, what a
    /// hostile or broken scan looks like) is abandoned at its deadline: the engine
    /// checks the monitor while it works, so a worker is never held past it.
    #[test]
    fn recognition_stops_at_its_deadline() {
        // A fixed pseudo-random speckle (xorshift), so the test is the same every run.
        let mut state: u32 = 0x9E37_79B9;
        let page = GrayImage::from_fn(2_400, 2_400, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            image::Luma([if state.is_multiple_of(7) { 0 } else { 255 }])
        });
        match recognise(&page, Duration::from_millis(1)) {
            Err(OcrError::Unreadable(why)) => assert!(why.contains("took longer"), "{why}"),
            other => panic!("expected the deadline to stop recognition, got {other:?}"),
        }
    }
}
