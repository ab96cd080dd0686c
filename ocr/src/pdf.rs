//! PDF receipts through poppler's command-line tools (Debian's `poppler-utils`):
//! `pdfinfo` counts the pages first, so a 500-page PDF fails at once, and
//! `pdftoppm` renders at most [`PDF_MAX_PAGES`] of them, each scaled to a bounded
//! size whatever page size the file claims. Each tool runs under a timeout and is
//! killed when it passes it.

use crate::{OcrError, too_slow};
use kttipay_domain::receipt::PDF_MAX_PAGES;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

/// Long side of a rendered page, in pixels: enough for receipt text, far inside
/// the image limits whatever the page size.
pub const PAGE_LONG_SIDE_PX: u32 = 2_400;

async fn run(program: &str, args: &[&str], deadline: Instant) -> Result<String, OcrError> {
    let left = deadline.saturating_duration_since(Instant::now());
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| OcrError::Failed(format!("{program} could not start (is poppler-utils installed?): {e}")))?;
    let out = tokio::time::timeout(left, child.wait_with_output())
        .await
        .map_err(|_| too_slow())?
        .map_err(|e| OcrError::Failed(format!("{program} failed: {e}")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let first = why.lines().next().unwrap_or("no reason given");
        return Err(OcrError::Unreadable(format!("the PDF could not be read: {first}")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn arg(p: &Path) -> Result<&str, OcrError> {
    p.to_str()
        .ok_or_else(|| OcrError::Failed("the scratch directory's path is not UTF-8".into()))
}

/// Each page of the PDF as PNG bytes.
pub async fn rasterise(bytes: &[u8], deadline: Instant) -> Result<Vec<Vec<u8>>, OcrError> {
    let failed = |e: std::io::Error| OcrError::Failed(format!("scratch files: {e}"));
    let dir = tempfile::tempdir().map_err(failed)?;
    let input = dir.path().join("receipt.pdf");
    tokio::fs::write(&input, bytes).await.map_err(failed)?;
    let info = run("pdfinfo", &[arg(&input)?], deadline).await?;
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| OcrError::Unreadable("the PDF has no pages".into()))?;
    if pages == 0 {
        return Err(OcrError::Unreadable("the PDF has no pages".into()));
    }
    if pages > PDF_MAX_PAGES {
        return Err(OcrError::Unreadable(format!(
            "the PDF has {pages} pages; receipts of at most {PDF_MAX_PAGES} pages are read"
        )));
    }
    let prefix = dir.path().join("page");
    let last = pages.to_string();
    let side = PAGE_LONG_SIDE_PX.to_string();
    run(
        "pdftoppm",
        &[
            "-gray",
            "-png",
            "-f",
            "1",
            "-l",
            &last,
            "-scale-to",
            &side,
            arg(&input)?,
            arg(&prefix)?,
        ],
        deadline,
    )
    .await?;
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .map_err(failed)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        out.push(tokio::fs::read(&name).await.map_err(failed)?);
    }
    Ok(out)
}
