//! The Amazon ECR adapter: images and scan results through aws-sdk-ecr,
//! signatures through the OCI API with an ECR authorization token.
//!
//! Credentials come from the default chain (environment, profile, IRSA web
//! identity, ECS/EKS Pod Identity). Throttling is retried by the SDK's
//! standard retry with exponential backoff; what is still throttled after
//! that becomes [`RegistryError::Throttled`], which gates treat as "hold".

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::ImageIdentifier;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::{ImageRecord, ImageSource, RegistryError};
use crate::evidence::{ScanState, SignatureEvidence, severity};
use crate::image::Digest;
use crate::oci::{Auth, OciClient, fetch_signatures};

/// An ECR token is replaced when less than this is left of its life
/// (tokens last 12 hours), so a request never carries a stale one.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(3600);

/// True when a token expiring at `expires_at` must be refreshed at `now`.
pub fn token_needs_refresh(now: OffsetDateTime, expires_at: OffsetDateTime) -> bool {
    expires_at - now < TOKEN_REFRESH_MARGIN
}

#[derive(Clone)]
struct Token {
    endpoint: String,
    password: String,
    expires_at: OffsetDateTime,
}

/// Settings of the ECR adapter.
#[derive(Debug, Clone, Default)]
pub struct EcrSettings {
    /// AWS region.
    pub region: String,
    /// Endpoint override (an AWS-compatible server).
    pub endpoint: Option<String>,
    /// Registry URL for OCI requests instead of the token's proxy endpoint
    /// (tests; ECR-compatible mirrors).
    pub oci_endpoint: Option<String>,
    /// Total attempts per request, throttling retries included.
    pub max_attempts: u32,
}

/// ECR through the AWS SDK.
pub struct EcrRegistry {
    client: aws_sdk_ecr::Client,
    oci_endpoint: Option<String>,
    token: Mutex<Option<Token>>,
}

impl EcrRegistry {
    /// Builds the client from the default credential chain.
    pub async fn connect(settings: &EcrSettings) -> Self {
        let retry = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(settings.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(200));
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()))
            .retry_config(retry);
        if let Some(ep) = &settings.endpoint {
            loader = loader.endpoint_url(ep);
        }
        let config = loader.load().await;
        Self::from_sdk_config(&config, settings.oci_endpoint.clone())
    }

    /// Builds the adapter from an SDK configuration (credentials, region,
    /// endpoint and retry already chosen).
    pub fn from_sdk_config(config: &aws_config::SdkConfig, oci_endpoint: Option<String>) -> Self {
        EcrRegistry {
            client: aws_sdk_ecr::Client::new(config),
            oci_endpoint,
            token: Mutex::new(None),
        }
    }

    /// The underlying SDK client (tests push images through it).
    pub fn client(&self) -> &aws_sdk_ecr::Client {
        &self.client
    }

    /// Registry credentials, fetched once and refreshed before they expire.
    async fn token(&self) -> Result<Token, RegistryError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref()
            && !token_needs_refresh(OffsetDateTime::now_utc(), t.expires_at)
        {
            return Ok(t.clone());
        }
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(map_err)?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| RegistryError::Other("GetAuthorizationToken returned no data".into()))?;
        let decoded = data
            .authorization_token()
            .and_then(|t| B64.decode(t).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                RegistryError::Other("authorization token is not base64 user:password".into())
            })?;
        let password = decoded
            .split_once(':')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        let expires_at = data
            .expires_at()
            .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok())
            .unwrap_or_else(|| OffsetDateTime::now_utc() + Duration::from_secs(12 * 3600));
        let token = Token {
            endpoint: data.proxy_endpoint().unwrap_or_default().to_string(),
            password,
            expires_at,
        };
        *slot = Some(token.clone());
        Ok(token)
    }
}

/// Maps SDK errors; error codes rather than types, as every operation has
/// its own error enum.
fn map_err<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> RegistryError {
    let code = e.code().unwrap_or_default().to_string();
    let message = e
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{e:?}"));
    match code.as_str() {
        "RepositoryNotFoundException" => RegistryError::RepositoryNotFound(message),
        "ImageNotFoundException" => RegistryError::ImageNotFound(message),
        "ThrottlingException" | "TooManyRequestsException" => RegistryError::Throttled(message),
        "" => RegistryError::Other(message),
        _ => RegistryError::Other(format!("{code}: {message}")),
    }
}

impl ImageSource for EcrRegistry {
    async fn list_images(&self, repository: &str) -> Result<Vec<ImageRecord>, RegistryError> {
        let details = self
            .client
            .describe_images()
            .repository_name(repository)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(map_err)?;
        let mut out = Vec::with_capacity(details.len());
        for d in details {
            // An image without a valid digest cannot be promoted; skip it.
            let Some(digest) = d.image_digest().and_then(|s| Digest::parse(s).ok()) else {
                continue;
            };
            let pushed_at = d
                .image_pushed_at()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            out.push(ImageRecord {
                digest,
                tags: d.image_tags().to_vec(),
                pushed_at,
            });
        }
        Ok(out)
    }

    async fn scan(&self, repository: &str, digest: &Digest) -> Result<ScanState, RegistryError> {
        let res = self
            .client
            .describe_image_scan_findings()
            .repository_name(repository)
            .image_id(
                ImageIdentifier::builder()
                    .image_digest(digest.as_str())
                    .build(),
            )
            .max_results(1)
            .send()
            .await;
        let out = match res {
            Ok(o) => o,
            Err(e) if e.code() == Some("ScanNotFoundException") => return Ok(ScanState::Missing),
            Err(e) => return Err(map_err(e)),
        };
        let status = out.image_scan_status();
        let code = status
            .and_then(|s| s.status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let description = status.and_then(|s| s.description()).map(str::to_string);
        let mut counts = BTreeMap::new();
        if let Some(map) = out
            .image_scan_findings()
            .and_then(|f| f.finding_severity_counts())
        {
            for (sev, n) in map {
                if let Some(s) = severity(sev.as_str()) {
                    counts.insert(s, u32::try_from(*n).unwrap_or(0));
                }
            }
        }
        Ok(ScanState::from_status(&code, description, counts))
    }

    async fn signatures(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<SignatureEvidence>, RegistryError> {
        let token = self.token().await?;
        let base = self.oci_endpoint.clone().unwrap_or(token.endpoint);
        let client = OciClient::new(
            &base,
            Auth::Basic {
                user: "AWS".into(),
                password: token.password,
            },
        );
        fetch_signatures(&client, repository, digest)
            .await
            .map_err(|e| RegistryError::Other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_an_hour_before_they_expire() {
        let now = OffsetDateTime::now_utc();
        assert!(!token_needs_refresh(
            now,
            now + Duration::from_secs(12 * 3600)
        ));
        assert!(!token_needs_refresh(now, now + Duration::from_secs(3601)));
        assert!(token_needs_refresh(now, now + Duration::from_secs(3599)));
        assert!(token_needs_refresh(now, now - Duration::from_secs(1)));
    }
}
