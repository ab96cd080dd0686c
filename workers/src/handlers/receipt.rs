//! Reads a receipt by OCR (the `media` queue): the stored file, the text
//! Tesseract finds in it, and what the parser makes of that, saved against the
//! upload the job was enqueued for. A file that cannot be read marks the receipt
//! `failed` with the reason (the job itself succeeds: trying again would read
//! the same bytes); our own failures (storage, a missing tool) are retried.

use crate::{JobError, WorkerDeps};
use kttipay_db::receipts;
use kttipay_domain::ids::JobId;
use kttipay_domain::receipt::{self, ReceiptFormat};
use kttipay_jobs::kinds::ReadReceipt;
use kttipay_ocr::OcrError;
use kttipay_providers::storage::StorageError;

pub async fn read(deps: &WorkerDeps, _id: JobId, job: ReadReceipt) -> Result<(), JobError> {
    let txn = job.transaction_id.0;
    let Some(r) = receipts::find(&deps.pool, txn).await? else {
        return Ok(());
    };
    if !receipts::start_reading(&deps.pool, txn, job.generation).await? {
        return Ok(());
    }
    let format = ReceiptFormat::from_content_type(&r.content_type)
        .ok_or_else(|| JobError::Permanent(format!("stored content type {} is not a receipt's", r.content_type)))?;
    let bytes = match deps.storage.get(&r.object_key).await {
        Ok(b) => b,
        Err(StorageError::NotFound(_)) => {
            receipts::fail(&deps.pool, txn, job.generation, "the uploaded file is missing").await?;
            return Ok(());
        }
        Err(e) => return Err(JobError::Transient(e.to_string())),
    };
    let started = std::time::Instant::now();
    let read = kttipay_ocr::read(bytes, format).await;
    metrics::histogram!("kttipay_receipt_ocr_seconds").record(started.elapsed().as_secs_f64());
    match read {
        Ok(text) => {
            let parsed = receipt::parse(&text);
            let mut tx = deps.pool.begin().await?;
            receipts::save_read(&mut tx, txn, job.generation, &parsed, &text).await?;
            tx.commit().await?;
            metrics::counter!("kttipay_receipts_read_total", "outcome" => "processed").increment(1);
            Ok(())
        }
        Err(OcrError::Unreadable(why)) => {
            receipts::fail(&deps.pool, txn, job.generation, &why).await?;
            metrics::counter!("kttipay_receipts_read_total", "outcome" => "failed").increment(1);
            Ok(())
        }
        Err(OcrError::Failed(why)) => Err(JobError::Transient(why)),
    }
}
