//! Signed upload URLs: the app asks for one (`kind`, `contentType`,
//! `contentLength`), then PUTs the file to it without a token, the URL being
//! the credential. Each URL takes exactly one upload, of that content type, up
//! to that length, within 15 minutes; the bytes must be what the type says.
//! The `imageKey` it returns is then accepted by other routes, only from the
//! user who uploaded it ([`usable_key`]).

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use kttipay_db::uploads::{self, NewUpload, UploadRow};
use kttipay_domain::FieldError;
use kttipay_domain::ids::UserId;
use kttipay_domain::receipt;
use kttipay_domain::upload::{UPLOAD_URL_TTL_SECS, UploadKind, signing_input};
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, poem_openapi::Enum, Serialize, Deserialize, PartialEq, Eq)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Avatar,
    KttiImage,
    Moment,
    Chat,
    Receipt,
}

impl From<Kind> for UploadKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Avatar => UploadKind::Avatar,
            Kind::KttiImage => UploadKind::KttiImage,
            Kind::Moment => UploadKind::Moment,
            Kind::Chat => UploadKind::Chat,
            Kind::Receipt => UploadKind::Receipt,
        }
    }
}

#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct UploadRequest {
    pub kind: Kind,
    /// `image/jpeg` or `image/png`; receipts also `application/pdf`.
    #[oai(validator(max_length = 100))]
    pub content_type: String,
    /// Bytes to be uploaded: at most 5 MiB for images, 10 MiB for receipts
    /// (the kind's limit when absent). A bigger upload is refused; with S3
    /// storage the upload must be exactly this long.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "10485760")))]
    pub content_length: Option<i64>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignedUrl {
    /// PUT the file here, with `Content-Type` as asked, no token.
    pub upload_url: String,
    /// Name the upload by this elsewhere (`avatarKey`, `imageKey`, a receipt).
    pub image_key: String,
    pub expires_at: DateTime<Utc>,
    pub method: String,
    pub content_type: String,
    pub max_bytes: i64,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<SignedUrl>),
}

#[derive(ApiResponse)]
pub enum Stored {
    /// Stored; the URL is spent.
    #[oai(status = 204)]
    NoContent,
}

/// The file of an upload, read only once its URL checks out.
pub struct UploadBody(poem::Body);

impl<'a> ApiExtractor<'a> for UploadBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        let binary = || MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")));
        Some(MetaRequest {
            description: Some("The file, with the `Content-Type` the URL was made for."),
            content: ["image/jpeg", "image/png", "application/pdf"]
                .into_iter()
                .map(|content_type| MetaMediaType {
                    content_type,
                    schema: binary(),
                })
                .collect(),
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(UploadBody(body.take()?))
    }
}

fn mac(secret: &str, upload: Uuid, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(signing_input(upload, expires).as_bytes());
    mac
}

/// 422 on `field` unless `key` names a finished upload of `user`'s of `kind`.
///
/// With S3 storage the file went straight to the bucket through a presigned URL
/// (which bound its type and length), so the first use reads it back and checks
/// its bytes, as our own upload route does, before it counts as uploaded; a file
/// that is not what it claimed is deleted.
pub async fn usable_key(
    state: &AppState,
    user: UserId,
    key: &str,
    kind: UploadKind,
    field: &str,
) -> Result<UploadRow, ApiError> {
    let pool = &state.pool;
    let refuse = |why: &str| ApiError::invalid(vec![FieldError::new(field, why)]);
    let Some(mut u) = uploads::by_key(pool, key).await? else {
        return Err(refuse(
            "is not an upload of yours: get one from POST /api/v2/uploads/signed-url",
        ));
    };
    if u.user_id != user.0 {
        return Err(refuse(
            "is not an upload of yours: get one from POST /api/v2/uploads/signed-url",
        ));
    }
    if u.kind != kind {
        return Err(refuse(&format!("was uploaded as a {}, not a {kind}", u.kind)));
    }
    if u.uploaded_at.is_none() && state.storage.is_s3() {
        let bytes = match state.storage.get(&u.object_key).await {
            Ok(b) => b,
            Err(kttipay_providers::storage::StorageError::NotFound(_)) => {
                return Err(refuse("has no file yet: upload to its URL first"));
            }
            Err(e) => return Err(ApiError::internal(e)),
        };
        if let Err(why) = check_bytes(&bytes, &u.content_type) {
            let _ = state.storage.delete(&u.object_key).await;
            return Err(refuse(&format!("holds a file that {why}")));
        }
        let size = i32::try_from(bytes.len()).map_err(ApiError::internal)?;
        uploads::claim_stored(pool, u.id, size).await?;
        u.uploaded_at = Some(Utc::now());
        u.size_bytes = Some(size);
    }
    if u.uploaded_at.is_none() {
        return Err(refuse("has no file yet: upload to its URL first"));
    }
    Ok(u)
}

/// Whether `bytes` are what `content_type` says, and an image not a bomb; the
/// reason when not.
fn check_bytes(bytes: &[u8], content_type: &str) -> Result<receipt::ReceiptFormat, String> {
    let format = receipt::sniff(bytes)
        .filter(|f| f.content_type() == content_type)
        .ok_or_else(|| format!("is not a {content_type}, judged by its content"))?;
    if format != receipt::ReceiptFormat::Pdf {
        let (w, h) = receipt::dimensions(bytes, format)
            .ok_or_else(|| "is not a readable image: its header is damaged".to_string())?;
        receipt::check_dimensions(w, h)?;
    }
    Ok(format)
}

pub struct UploadsApi;

#[OpenApi(tag = "Tag::User")]
impl UploadsApi {
    /// Create a signed URL for uploading one image
    ///
    /// `kind` (`avatar`, `kttiImage`, `moment`, `chat`, `receipt`), `contentType`
    /// and, optionally, `contentLength`. The URL takes one PUT of that type and
    /// at most that length within 15 minutes.
    #[oai(
        path = "/api/v2/uploads/signed-url",
        method = "post",
        operation_id = "createUploadUrl"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<UploadRequest>,
    ) -> Result<Created, ApiError> {
        let b = body.0;
        let kind: UploadKind = b.kind.into();
        let mut errors = Vec::new();
        let content_type = b.content_type.trim().to_ascii_lowercase();
        if !kind.content_types().contains(&content_type.as_str()) {
            errors.push(FieldError::new(
                "contentType",
                format!("a {kind} must be one of {}", kind.content_types().join(", ")),
            ));
        }
        let max = kind.max_bytes() as i64;
        let length = b.content_length.unwrap_or(max);
        if !(1..=max).contains(&length) {
            errors.push(FieldError::new(
                "contentLength",
                format!("a {kind} is 1 to {max} bytes"),
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        let ext = receipt::ReceiptFormat::from_content_type(&content_type)
            .map(|f| f.extension())
            .unwrap_or("bin");
        let id = Uuid::now_v7();
        let key = format!("uploads/{kind}/{id}.{ext}");
        let expires_at = Utc::now() + Duration::seconds(UPLOAD_URL_TTL_SECS);
        let new = NewUpload {
            id,
            user: auth.0.user_id,
            kind,
            object_key: &key,
            content_type: &content_type,
            max_bytes: i32::try_from(length).map_err(ApiError::internal)?,
            expires_at,
        };
        uploads::create(&state.pool, &new).await?;
        let expires = expires_at.timestamp();
        let upload_url = match state
            .storage
            .presign_put(&key, &content_type, length as u64, UPLOAD_URL_TTL_SECS as u32)
        {
            // S3: straight to the bucket, the type and length signed.
            Some(presigned) => presigned,
            None => {
                let signature = hex::encode(mac(&state.config.jwt_secret, id, expires).finalize().into_bytes());
                format!(
                    "{}/api/v2/uploads/{id}?expires={expires}&signature={signature}",
                    state.config.public_url.trim_end_matches('/')
                )
            }
        };
        Ok(Created::Created(Json(SignedUrl {
            upload_url,
            image_key: key,
            expires_at,
            method: "PUT".into(),
            content_type,
            max_bytes: length,
        })))
    }

    /// Upload to a signed URL
    ///
    /// No token: the signature is the credential. 403 for a bad signature or an
    /// expired URL, 409 once it was used, 415 for another content type, 413 past
    /// the length it was made for, 422 when the bytes are not what the type says.
    #[oai(path = "/api/v2/uploads/:uploadId", method = "put", operation_id = "putUpload")]
    async fn put(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "uploadId")] id: Path<Uuid>,
        expires: Query<i64>,
        #[oai(validator(max_length = 128))] signature: Query<String>,
        body: UploadBody,
    ) -> Result<Stored, ApiError> {
        let forbidden = |code: &'static str, why: &str| ApiError::forbidden(code, why.to_string());
        let given = hex::decode(signature.0.trim()).unwrap_or_default();
        if mac(&state.config.jwt_secret, id.0, expires.0)
            .verify_slice(&given)
            .is_err()
        {
            return Err(forbidden(
                "invalid_signature",
                "This upload URL's signature does not match.",
            ));
        }
        let u = uploads::find(&state.pool, id.0)
            .await?
            .ok_or_else(|| forbidden("invalid_signature", "This upload URL's signature does not match."))?;
        if u.expires_at <= Utc::now() || expires.0 <= Utc::now().timestamp() {
            return Err(forbidden(
                "upload_expired",
                "This upload URL has expired: ask for a new one.",
            ));
        }
        if u.uploaded_at.is_some() {
            return Err(ApiError::conflict("upload_used", "This upload URL was already used."));
        }
        let sent = req
            .content_type()
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        if sent.as_deref() != Some(u.content_type.as_str()) {
            return Err(ApiError::new(
                poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type_mismatch",
                format!("This URL takes {} only.", u.content_type),
            ));
        }
        let limit = usize::try_from(u.max_bytes).map_err(ApiError::internal)?;
        let bytes = body.0.into_bytes_limit(limit).await.map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::new(
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("This URL takes at most {limit} bytes."),
            ),
            other => ApiError::bad_request(format!("The body could not be read: {other}")),
        })?;
        check_bytes(&bytes, &u.content_type).map_err(|why| ApiError::invalid(vec![FieldError::new("file", why)]))?;
        let size = i32::try_from(bytes.len()).map_err(ApiError::internal)?;
        if !uploads::claim(&state.pool, u.id, size).await? {
            return Err(ApiError::conflict("upload_used", "This upload URL was already used."));
        }
        if let Err(e) = state.storage.put(&u.object_key, bytes.to_vec()).await {
            uploads::release(&state.pool, u.id).await?;
            tracing::error!(error = %e, "storing an upload failed");
            return Err(ApiError::new(
                poem::http::StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "The file could not be stored; try again shortly.",
            ));
        }
        Ok(Stored::NoContent)
    }
}
