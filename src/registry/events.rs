//! EventBridge payloads: ECR and Inspector2 events, parsed into [`Trigger`]s.
//!
//! An event is only a hint that says "look at this repository now"; the
//! reconciler reads the registry itself and never trusts the event's content
//! beyond that. So the parser is strict about the envelope and the fields it
//! needs (a refused event is logged with a reason) and lenient about the rest:
//! a digest or tag that breaks the grammar (AWS documentation samples contain
//! several) is dropped, not fatal, because the repository is still worth a look.
//!
//! Handled detail-types (see [`TriggerKind`]): `ECR Image Action`,
//! `ECR Image Scan`, `ECR Scan Resource Change`, `ECR Replication Action`,
//! `ECR Pull Through Cache Action`, `ECR Referrer Action` (source `aws.ecr`),
//! and `Inspector2 Scan`, `Inspector2 Finding` (source `aws.inspector2`).

use serde_json::{Map, Value};

use crate::image::{Digest, ImageName, Tag};

/// What happened to the image or repository an event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// `ECR Image Action` / `PUSH`: an image (or a new tag on one) was pushed.
    Push,
    /// `ECR Image Action` / `DELETE`: an image or tag was deleted.
    Delete,
    /// `ECR Image Action` / `UPDATE_STORAGE_CLASS` to `ARCHIVE`: the image was archived.
    Archive,
    /// `ECR Image Action` / `UPDATE_STORAGE_CLASS` to `STANDARD`: the image was restored.
    Restore,
    /// `ECR Image Scan` (basic) or `Inspector2 Scan` (enhanced): a scan finished.
    Scan,
    /// `Inspector2 Finding`: a finding on the image was created, updated or closed.
    Finding,
    /// `ECR Scan Resource Change`: scanning settings of a repository changed.
    ScanResourceChange,
    /// `ECR Replication Action`: an image was (or failed to be) replicated here.
    Replication,
    /// `ECR Pull Through Cache Action`: an upstream image was synced into the cache.
    PullThroughCache,
    /// `ECR Referrer Action`: a referrer artifact (signature, SBOM, ...) changed;
    /// the digest is the referrer's own, not its subject's.
    Referrer,
}

/// "Look at repository R (digest D)": what one event asks of the reconciler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Repository name (an ARN in the event is reduced to the name).
    pub repository: String,
    /// The image the event is about. `None` when the event names no image, or
    /// names one whose digest is not valid per [`Digest::parse`]: the
    /// repository is still looked at, the digest is not trusted.
    pub digest: Option<Digest>,
    /// A tag the event mentions (the first, when it lists several). `None`
    /// when absent, empty, or not valid per [`Tag::parse`]. Informational only.
    pub tag: Option<Tag>,
    /// What happened.
    pub kind: TriggerKind,
    /// The EventBridge event id, for logs and de-duplication.
    pub event_id: String,
    /// The region the event comes from.
    pub region: Option<String>,
    /// The AWS account the event comes from.
    pub account: Option<String>,
}

/// Why an event body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is not JSON.
    #[error("event is not valid JSON: {message} (line {line}, column {column})")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// A required field is absent.
    #[error("{}missing field {field}", at(.event_id))]
    Missing {
        /// The event id, when it could be read.
        event_id: Option<String>,
        /// Path of the field, e.g. `detail.repository-name`.
        field: String,
    },
    /// A field has the wrong JSON type.
    #[error("{}field {field} should be {expected}, found {found}", at(.event_id))]
    WrongType {
        /// The event id, when it could be read.
        event_id: Option<String>,
        /// Path of the field (`event` for the whole body).
        field: String,
        /// The JSON type wanted.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A field has the right type but a value ferry cannot use.
    #[error("{}field {field}: {why}", at(.event_id))]
    Invalid {
        /// The event id, when it could be read.
        event_id: Option<String>,
        /// Path of the field.
        field: String,
        /// What is wrong with it.
        why: String,
    },
    /// An event ferry does not handle: log it and drop it.
    #[error(
        "event {event_id}: unknown {detail_type:?} from {event_source:?}{}",
        .action.as_ref().map(|a| format!(" with action {a:?}")).unwrap_or_default()
    )]
    Unknown {
        /// The event id.
        event_id: String,
        /// The `detail-type` field.
        detail_type: String,
        /// The `source` field.
        event_source: String,
        /// The action (`action-type`, target storage class) that was not
        /// recognised, when the detail-type itself is known.
        action: Option<String>,
    },
}

fn at(event_id: &Option<String>) -> String {
    event_id
        .as_ref()
        .map(|id| format!("event {id}: "))
        .unwrap_or_default()
}

/// Parses one EventBridge event (the JSON body of an SQS message) into the
/// triggers it carries: usually one, several for `ECR Scan Resource Change`,
/// none for an `Inspector2 Finding` about something that is not an ECR image.
pub fn parse_event(body: &str) -> Result<Vec<Trigger>, EventError> {
    let value: Value = serde_json::from_str(body).map_err(|e| EventError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut cx = Cx { event_id: None };
    let event = cx.object(&value, "event")?;
    let id = cx.req_str(event, "", "id")?;
    cx.event_id = Some(id.to_string());
    let detail_type = cx.req_str(event, "", "detail-type")?;
    let source = cx.req_str(event, "", "source")?;
    let envelope = Envelope {
        event_id: id.to_string(),
        region: cx.opt_str(event, "", "region")?.map(str::to_string),
        account: cx.opt_str(event, "", "account")?.map(str::to_string),
    };
    let unknown = |action: Option<&str>| EventError::Unknown {
        event_id: id.to_string(),
        detail_type: detail_type.to_string(),
        event_source: source.to_string(),
        action: action.map(str::to_string),
    };
    // Dispatch before reading the detail, so an event ferry does not handle is
    // always reported as Unknown, whatever its shape. The source is checked
    // too: the same detail-type from another source is not guessed at.
    let shape = match (source, detail_type) {
        ("aws.ecr", "ECR Image Action") => Shape::ImageAction,
        ("aws.ecr", "ECR Image Scan") | ("aws.inspector2", "Inspector2 Scan") => {
            Shape::Image(TriggerKind::Scan)
        }
        ("aws.ecr", "ECR Replication Action") => Shape::Image(TriggerKind::Replication),
        ("aws.ecr", "ECR Pull Through Cache Action") => Shape::Image(TriggerKind::PullThroughCache),
        ("aws.ecr", "ECR Referrer Action") => Shape::Image(TriggerKind::Referrer),
        ("aws.ecr", "ECR Scan Resource Change") => Shape::ScanResourceChange,
        ("aws.inspector2", "Inspector2 Finding") => Shape::Finding,
        _ => return Err(unknown(None)),
    };
    let detail = cx.object(cx.req(event, "", "detail")?, "detail")?;
    let kind = match shape {
        Shape::Image(kind) => kind,
        Shape::ImageAction => match cx.req_str(detail, "detail", "action-type")? {
            "PUSH" => TriggerKind::Push,
            "DELETE" => TriggerKind::Delete,
            "UPDATE_STORAGE_CLASS" => {
                match cx.req_str(detail, "detail", "target-storage-class")? {
                    "ARCHIVE" => TriggerKind::Archive,
                    "STANDARD" => TriggerKind::Restore,
                    other => return Err(unknown(Some(other))),
                }
            }
            other => return Err(unknown(Some(other))),
        },
        Shape::ScanResourceChange => return cx.scan_resource_change(&envelope, detail),
        Shape::Finding => return cx.finding(&envelope, detail),
    };
    Ok(vec![cx.image_event(&envelope, detail, kind)?])
}

/// How a handled detail-type names its images.
enum Shape {
    /// `repository-name`, `image-digest`, `image-tag(s)` in the detail.
    Image(TriggerKind),
    /// Like `Image`, with the kind given by `action-type`.
    ImageAction,
    /// A list of repositories, or one image.
    ScanResourceChange,
    /// Images among `detail.resources`.
    Finding,
}

/// The envelope fields copied into every trigger of an event.
struct Envelope {
    event_id: String,
    region: Option<String>,
    account: Option<String>,
}

impl Envelope {
    fn trigger(
        &self,
        repository: String,
        digest: Option<&str>,
        tag: Option<&str>,
        kind: TriggerKind,
    ) -> Trigger {
        Trigger {
            repository,
            digest: digest.and_then(|d| Digest::parse(d).ok()),
            tag: tag.and_then(|t| Tag::parse(t).ok()),
            kind,
            event_id: self.event_id.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
        }
    }
}

/// Field access that reports the path of what is missing or mistyped.
struct Cx {
    event_id: Option<String>,
}

impl Cx {
    fn object<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, EventError> {
        v.as_object()
            .ok_or_else(|| self.wrong_type(path, "an object", v))
    }

    fn req<'v>(
        &self,
        m: &'v Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Result<&'v Value, EventError> {
        m.get(key).ok_or_else(|| EventError::Missing {
            event_id: self.event_id.clone(),
            field: join(parent, key),
        })
    }

    fn req_str<'v>(
        &self,
        m: &'v Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Result<&'v str, EventError> {
        let v = self.req(m, parent, key)?;
        v.as_str()
            .ok_or_else(|| self.wrong_type(&join(parent, key), "a string", v))
    }

    /// An optional string; `null` counts as absent.
    fn opt_str<'v>(
        &self,
        m: &'v Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Result<Option<&'v str>, EventError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(&join(parent, key), "a string", v)),
        }
    }

    /// The first element of an optional array of strings; `null` counts as absent.
    fn first_of<'v>(
        &self,
        m: &'v Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Result<Option<&'v str>, EventError> {
        let path = join(parent, key);
        let items = match m.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(v) => return Err(self.wrong_type(&path, "an array", v)),
        };
        for (i, item) in items.iter().enumerate() {
            if !item.is_string() {
                return Err(self.wrong_type(&format!("{path}[{i}]"), "a string", item));
            }
        }
        Ok(items.first().and_then(Value::as_str))
    }

    fn wrong_type(&self, field: &str, expected: &'static str, found: &Value) -> EventError {
        EventError::WrongType {
            event_id: self.event_id.clone(),
            field: field.to_string(),
            expected,
            found: json_type(found),
        }
    }

    /// A repository name, or an ECR repository ARN reduced to the name.
    fn repository(&self, raw: &str, field: &str) -> Result<String, EventError> {
        let invalid = |why: String| EventError::Invalid {
            event_id: self.event_id.clone(),
            field: field.to_string(),
            why,
        };
        let name = if raw.starts_with("arn:") {
            // arn:<partition>:ecr:<region>:<account>:repository/<name>; the name
            // may itself contain '/', never ':'.
            match raw.splitn(6, ':').collect::<Vec<_>>()[..] {
                [_, _, "ecr", _, _, resource] => resource
                    .strip_prefix("repository/")
                    .ok_or_else(|| invalid(format!("ARN {raw:?} is not an ECR repository")))?,
                _ => return Err(invalid(format!("ARN {raw:?} is not an ECR repository"))),
            }
        } else {
            raw
        };
        ImageName::parse(name).map_err(|e| invalid(e.to_string()))?;
        Ok(name.to_string())
    }

    /// Events whose detail names one image: `repository-name`, `image-digest`,
    /// and `image-tag` or `image-tags`.
    fn image_event(
        &self,
        env: &Envelope,
        detail: &Map<String, Value>,
        kind: TriggerKind,
    ) -> Result<Trigger, EventError> {
        let raw = self.req_str(detail, "detail", "repository-name")?;
        let repository = self.repository(raw, "detail.repository-name")?;
        let digest = self.opt_str(detail, "detail", "image-digest")?;
        let tag = match self.opt_str(detail, "detail", "image-tag")? {
            Some(tag) => Some(tag),
            None => self.first_of(detail, "detail", "image-tags")?,
        };
        Ok(env.trigger(repository, digest, tag, kind))
    }

    /// `ECR Scan Resource Change`: a list of repositories (resource-type
    /// REPOSITORY), or a single image named like the other image events.
    fn scan_resource_change(
        &self,
        env: &Envelope,
        detail: &Map<String, Value>,
    ) -> Result<Vec<Trigger>, EventError> {
        let kind = TriggerKind::ScanResourceChange;
        let Some(repos) = detail.get("repositories") else {
            return Ok(vec![self.image_event(env, detail, kind)?]);
        };
        let repos = repos
            .as_array()
            .ok_or_else(|| self.wrong_type("detail.repositories", "an array", repos))?;
        let mut triggers = Vec::with_capacity(repos.len());
        for (i, repo) in repos.iter().enumerate() {
            let path = format!("detail.repositories[{i}]");
            let repo = self.object(repo, &path)?;
            let (field, raw) = match self.opt_str(repo, &path, "repository-name")? {
                Some(name) => ("repository-name", name),
                None => (
                    "repository-arn",
                    self.req_str(repo, &path, "repository-arn")?,
                ),
            };
            let repository = self.repository(raw, &join(&path, field))?;
            let digest = self.opt_str(repo, &path, "image-digest")?;
            let tag = self.first_of(repo, &path, "image-tags")?;
            triggers.push(env.trigger(repository, digest, tag, kind));
        }
        Ok(triggers)
    }

    /// `Inspector2 Finding`: one trigger per ECR image resource; resources of
    /// other types (EC2 instances, Lambda functions) are skipped.
    fn finding(
        &self,
        env: &Envelope,
        detail: &Map<String, Value>,
    ) -> Result<Vec<Trigger>, EventError> {
        let resources = self.req(detail, "detail", "resources")?;
        let resources = resources
            .as_array()
            .ok_or_else(|| self.wrong_type("detail.resources", "an array", resources))?;
        let mut triggers = Vec::new();
        for (i, resource) in resources.iter().enumerate() {
            let path = format!("detail.resources[{i}]");
            let resource = self.object(resource, &path)?;
            let Some(details) = resource.get("details") else {
                continue;
            };
            let details_path = join(&path, "details");
            let details = self.object(details, &details_path)?;
            let Some(image) = details.get("awsEcrContainerImage") else {
                continue;
            };
            let image_path = join(&details_path, "awsEcrContainerImage");
            let image = self.object(image, &image_path)?;
            let raw = self.req_str(image, &image_path, "repositoryName")?;
            let repository = self.repository(raw, &join(&image_path, "repositoryName"))?;
            let digest = self.opt_str(image, &image_path, "imageHash")?;
            let tag = self.first_of(image, &image_path, "imageTags")?;
            triggers.push(env.trigger(repository, digest, tag, TriggerKind::Finding));
        }
        Ok(triggers)
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn corpus_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ecr-events")
    }

    const DIGEST_F98: &str =
        "sha256:f98d67af8e53a536502bfc600de3266556b06ed635a32d60aa7a5fe6d7e609d7";
    const DIGEST_D4A: &str =
        "sha256:d4a96ee9443e641fc100e763a0c10928720b50c6e3ea3342d05d7c3435fc5355";

    /// (repository, digest, tag, kind) expected of one trigger.
    type Want = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        TriggerKind,
    );

    /// What each corpus file must give. The AWS samples in 01, 02, 03 and 09
    /// carry a 60-digit digest, 05/08 end in "EXAMPLE" and 10 has 'g's: none
    /// of them is a valid digest, so the trigger has no digest.
    fn expected(file: &str) -> Option<(&'static str, Vec<Want>)> {
        use TriggerKind::*;
        let want = match file {
            "01_ecr-image-action-push_awsdocs-userguide.json"
            | "01b_ecr-image-action-push_aws-lambda-go-testdata.json" => (
                "13cde686-328b-6117-af20-0e5566167482",
                vec![("my-repository-name", None, Some("latest"), Push)],
            ),
            "02_ecr-image-action-delete_awsdocs-userguide.json" => (
                "dd3b46cb-2c74-f49e-393b-28286b67279d",
                vec![("my-repository-name", None, Some("latest"), Delete)],
            ),
            "03_ecr-image-scan-basic_awsdocs-userguide.json" => (
                "85fc3613-e913-7fc4-a80c-a3753e4aa9ae",
                vec![("my-repository-name", None, None, Scan)],
            ),
            "04_ecr-image-scan-basic-allseverities_aws-lambda-go-testdata.json" => (
                "01234567-0123-0123-0123-012345678901",
                vec![(
                    "tribble-image-scan-test",
                    Some(DIGEST_D4A),
                    Some("1572471135"),
                    Scan,
                )],
            ),
            "05_inspector2-scan-enhanced_awsdocs-userguide.json" => (
                "739c0d3c-4f02-85c7-5a88-94a9EXAMPLE",
                vec![("amazon/amazon-ecs-sample", None, Some("latest"), Scan)],
            ),
            "07_ecr-scan-resource-change_awsdocs-userguide.json" => (
                "0c18352a-a4d4-6853-ef53-0ab8638973bf",
                vec![
                    ("repository-1", None, None, ScanResourceChange),
                    ("repository-2", None, None, ScanResourceChange),
                    ("repository-3", None, None, ScanResourceChange),
                ],
            ),
            "08_inspector2-finding-enhanced_awsdocs-userguide.json" => (
                "42dbea55-45ad-b2b4-87a8-afaEXAMPLE",
                vec![("amazon/amazon-ecs-sample", None, Some("latest"), Finding)],
            ),
            "09_ecr-replication-action-success_aws-docs-2025.json" => (
                "c8b133b1-6029-ee73-e2a1-4f466b8ba999",
                vec![("docker-hub/alpine", None, Some("3.17.2"), Replication)],
            ),
            "10_ecr-replication-action-failed_aws-docs-2025.json" => (
                "d9c244c2-7130-ff84-f3b2-5g577c9cb000",
                vec![("my-app", None, Some("latest"), Replication)],
            ),
            "11_ecr-image-action-archive_aws-docs-2025.json" => (
                "4f5ec4d5-4de4-7aad-a046-EXAMPLE",
                vec![("ubuntu", Some(DIGEST_F98), None, Archive)],
            ),
            "12_ecr-image-action-restore_aws-docs-2025.json" => (
                "7b8fc5e6-5ef5-8bbe-b157-EXAMPLE",
                vec![("ubuntu", Some(DIGEST_F98), None, Restore)],
            ),
            "13_ecr-referrer-action-restore_aws-docs-2025.json" => (
                "8c9gd6f7-6fg6-9ccf-c268-EXAMPLE",
                vec![("sbom", Some(DIGEST_F98), None, Referrer)],
            ),
            _ => return None,
        };
        Some(want)
    }

    /// The region of each parsable corpus file (the account is always 123456789012).
    fn origin(file: &str) -> &'static str {
        match &file[..2] {
            "01" | "02" => "us-west-2",
            "05" | "08" => "us-east-2",
            "04" => "eu-north-1",
            _ => "us-east-1",
        }
    }

    #[test]
    fn every_corpus_event_parses_as_expected_or_is_refused() {
        let mut seen = 0;
        let mut entries: Vec<_> = std::fs::read_dir(corpus_dir())
            .expect("corpus dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name");
            let body = std::fs::read_to_string(&path).expect("readable");
            let result = parse_event(&body);
            if name.starts_with("06_") {
                // AWS published it with a trailing comma after image-digest.
                let err = result.expect_err("06 is invalid JSON");
                let EventError::Json { line, column, .. } = &err else {
                    panic!("06 refused for the wrong reason: {err}");
                };
                assert_eq!((*line, *column), (20, 5), "{err}");
                let msg = err.to_string();
                assert!(
                    msg.contains("not valid JSON") && msg.contains("line 20"),
                    "{msg}"
                );
                seen += 1;
                continue;
            }
            let (id, want) =
                expected(name).unwrap_or_else(|| panic!("no expectation for corpus file {name}"));
            let got = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            let got_short: Vec<_> = got
                .iter()
                .map(|t| {
                    (
                        t.repository.as_str(),
                        t.digest.as_ref().map(Digest::as_str),
                        t.tag.as_ref().map(Tag::as_str),
                        t.kind,
                    )
                })
                .collect();
            assert_eq!(got_short, want, "{name}");
            for t in &got {
                assert_eq!(t.event_id, id, "{name}");
                assert_eq!(t.region.as_deref(), Some(origin(name)), "{name}");
                assert_eq!(t.account.as_deref(), Some("123456789012"), "{name}");
            }
            seen += 1;
        }
        assert_eq!(seen, 14, "the corpus has 14 event files");
    }

    fn event(detail_type: &str, source: &str, detail: Value) -> String {
        serde_json::json!({
            "version": "0",
            "id": "e-1",
            "detail-type": detail_type,
            "source": source,
            "account": "111122223333",
            "region": "eu-west-1",
            "resources": [],
            "detail": detail,
        })
        .to_string()
    }

    #[test]
    fn push_with_valid_digest_and_tag() {
        let body = event(
            "ECR Image Action",
            "aws.ecr",
            serde_json::json!({
                "result": "SUCCESS", "action-type": "PUSH",
                "repository-name": "team/gateway",
                "image-digest": DIGEST_F98, "image-tag": "sha-3f2a9c1",
            }),
        );
        let got = parse_event(&body).expect("valid");
        assert_eq!(
            got,
            vec![Trigger {
                repository: "team/gateway".into(),
                digest: Some(Digest::parse(DIGEST_F98).expect("digest")),
                tag: Some(Tag::parse("sha-3f2a9c1").expect("tag")),
                kind: TriggerKind::Push,
                event_id: "e-1".into(),
                region: Some("eu-west-1".into()),
                account: Some("111122223333".into()),
            }]
        );
    }

    #[test]
    fn uppercase_digest_and_bad_tag_are_dropped_not_fatal() {
        let body = event(
            "ECR Image Action",
            "aws.ecr",
            serde_json::json!({
                "action-type": "PUSH", "repository-name": "gateway",
                "image-digest": DIGEST_F98.to_uppercase(), "image-tag": "-bad",
            }),
        );
        let got = parse_event(&body).expect("valid");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].repository, "gateway");
        assert_eq!(got[0].digest, None);
        assert_eq!(got[0].tag, None);
    }

    #[test]
    fn malformed_envelopes_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("{}", "missing field id"),
            ("[]", "field event should be an object, found an array"),
            ("null", "field event should be an object, found null"),
            (
                r#"{"id": 7}"#,
                "field id should be a string, found a number",
            ),
            (r#"{"id": "x"}"#, "event x: missing field detail-type"),
            (
                r#"{"id": "x", "detail-type": "ECR Image Action"}"#,
                "event x: missing field source",
            ),
            (
                r#"{"id": "x", "detail-type": "ECR Image Action", "source": "aws.ecr"}"#,
                "event x: missing field detail",
            ),
            (
                r#"{"id": "x", "detail-type": "ECR Image Action", "source": "aws.ecr", "detail": "PUSH"}"#,
                "event x: field detail should be an object, found a string",
            ),
            (
                r#"{"id": "x", "detail-type": "ECR Image Action", "source": "aws.ecr", "region": 1, "detail": {}}"#,
                "event x: field region should be a string, found a number",
            ),
        ];
        for (body, want) in cases {
            let err = parse_event(body).expect_err(body);
            assert_eq!(err.to_string(), *want, "{body}");
        }
    }

    #[test]
    fn malformed_details_name_the_field() {
        let cases = [
            (
                "ECR Image Action",
                serde_json::json!({"repository-name": "a"}),
                "event e-1: missing field detail.action-type",
            ),
            (
                "ECR Image Action",
                serde_json::json!({"action-type": "PUSH"}),
                "event e-1: missing field detail.repository-name",
            ),
            (
                "ECR Image Action",
                serde_json::json!({"action-type": "PUSH", "repository-name": ["a"]}),
                "event e-1: field detail.repository-name should be a string, found an array",
            ),
            (
                "ECR Image Action",
                serde_json::json!({"action-type": "UPDATE_STORAGE_CLASS", "repository-name": "a"}),
                "event e-1: missing field detail.target-storage-class",
            ),
            (
                "ECR Image Scan",
                serde_json::json!({"repository-name": "a", "image-digest": 5}),
                "event e-1: field detail.image-digest should be a string, found a number",
            ),
            (
                "ECR Image Scan",
                serde_json::json!({"repository-name": "a", "image-tags": "latest"}),
                "event e-1: field detail.image-tags should be an array, found a string",
            ),
            (
                "ECR Image Scan",
                serde_json::json!({"repository-name": "a", "image-tags": [1]}),
                "event e-1: field detail.image-tags[0] should be a string, found a number",
            ),
            (
                "ECR Image Scan",
                serde_json::json!({"repository-name": "Bad Name"}),
                "event e-1: field detail.repository-name: invalid image name \"Bad Name\"",
            ),
            (
                "ECR Scan Resource Change",
                serde_json::json!({"repositories": [{"repository-name": "a"}, {}]}),
                "event e-1: missing field detail.repositories[1].repository-arn",
            ),
            (
                "ECR Scan Resource Change",
                serde_json::json!({"repositories": {}}),
                "event e-1: field detail.repositories should be an array, found an object",
            ),
        ];
        for (detail_type, detail, want) in cases {
            let body = event(detail_type, "aws.ecr", detail);
            let err = parse_event(&body).expect_err(&body).to_string();
            assert!(err.starts_with(want), "{body}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn repository_arns_are_reduced_to_names_or_refused() {
        let scan = |repo: &str| {
            parse_event(&event(
                "Inspector2 Scan",
                "aws.inspector2",
                serde_json::json!({"repository-name": repo}),
            ))
        };
        let ok = scan("arn:aws-cn:ecr:cn-north-1:123456789012:repository/a/b/c").expect("arn");
        assert_eq!(ok[0].repository, "a/b/c");
        for bad in [
            "arn:aws:s3:::bucket/key",
            "arn:aws:ecr:us-east-1:123456789012:registry/x",
            "arn:aws:ecr:us-east-1",
            "arn:aws:ecr:us-east-1:123456789012:repository/",
        ] {
            let err = scan(bad).expect_err(bad);
            assert!(
                matches!(&err, EventError::Invalid { field, .. } if field == "detail.repository-name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn scan_resource_change_for_one_image_and_by_arn() {
        let one = parse_event(&event(
            "ECR Scan Resource Change",
            "aws.ecr",
            serde_json::json!({
                "action-type": "ENHANCED_TO_BASIC", "resource-type": "IMAGE",
                "repository-name": "gateway", "image-digest": DIGEST_F98, "image-tags": ["v1", "v2"],
            }),
        ))
        .expect("image form");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].digest.as_ref().map(Digest::as_str), Some(DIGEST_F98));
        assert_eq!(one[0].tag.as_ref().map(Tag::as_str), Some("v1"));

        let by_arn = parse_event(&event(
            "ECR Scan Resource Change",
            "aws.ecr",
            serde_json::json!({"repositories": [
                {"repository-arn": "arn:aws:ecr:eu-west-1:111122223333:repository/ns/app"}
            ]}),
        ))
        .expect("arn only");
        assert_eq!(by_arn[0].repository, "ns/app");
        assert_eq!(by_arn[0].kind, TriggerKind::ScanResourceChange);
    }

    #[test]
    fn finding_skips_resources_that_are_not_ecr_images() {
        let body = event(
            "Inspector2 Finding",
            "aws.inspector2",
            serde_json::json!({"resources": [
                {"type": "AWS_EC2_INSTANCE", "details": {"awsEc2Instance": {}}},
                {"type": "AWS_LAMBDA_FUNCTION"},
                {"type": "AWS_ECR_CONTAINER_IMAGE", "details": {"awsEcrContainerImage": {
                    "repositoryName": "gateway", "imageHash": DIGEST_F98,
                }}},
            ]}),
        );
        let got = parse_event(&body).expect("valid");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].repository, "gateway");
        assert_eq!(got[0].tag, None);
        assert_eq!(got[0].kind, TriggerKind::Finding);

        let ec2_only = event(
            "Inspector2 Finding",
            "aws.inspector2",
            serde_json::json!({"resources": [{"type": "AWS_EC2_INSTANCE", "details": {}}]}),
        );
        assert_eq!(parse_event(&ec2_only), Ok(vec![]));

        let no_name = event(
            "Inspector2 Finding",
            "aws.inspector2",
            serde_json::json!({"resources": [{"details": {"awsEcrContainerImage": {}}}]}),
        );
        let err = parse_event(&no_name).expect_err("no repository name");
        assert_eq!(
            err,
            EventError::Missing {
                event_id: Some("e-1".into()),
                field: "detail.resources[0].details.awsEcrContainerImage.repositoryName".into(),
            }
        );
    }

    #[test]
    fn unknown_events_and_actions_are_refused_as_unknown() {
        let detail = serde_json::json!({"repository-name": "a", "action-type": "PUSH"});
        let err = parse_event(&event(
            "EC2 Instance State-change Notification",
            "aws.ec2",
            detail.clone(),
        ))
        .expect_err("unknown");
        assert_eq!(
            err,
            EventError::Unknown {
                event_id: "e-1".into(),
                detail_type: "EC2 Instance State-change Notification".into(),
                event_source: "aws.ec2".into(),
                action: None,
            }
        );
        assert!(err.to_string().starts_with("event e-1: unknown"), "{err}");
        let bare =
            parse_event(r#"{"id": "y", "detail-type": "Scheduled Event", "source": "aws.events"}"#)
                .expect_err("unknown without detail");
        assert!(matches!(bare, EventError::Unknown { .. }), "{bare}");

        // A known detail-type from a source that is not AWS's.
        let spoof = parse_event(&event("ECR Image Action", "my.app", detail)).expect_err("spoof");
        assert!(
            matches!(spoof, EventError::Unknown { action: None, .. }),
            "{spoof}"
        );

        let retag = parse_event(&event(
            "ECR Image Action",
            "aws.ecr",
            serde_json::json!({"repository-name": "a", "action-type": "RETAG"}),
        ))
        .expect_err("unknown action");
        assert!(
            matches!(&retag, EventError::Unknown { action: Some(a), .. } if a == "RETAG"),
            "{retag}"
        );
        assert!(
            retag.to_string().contains("with action \"RETAG\""),
            "{retag}"
        );

        let glacier = parse_event(&event(
            "ECR Image Action",
            "aws.ecr",
            serde_json::json!({
                "repository-name": "a", "action-type": "UPDATE_STORAGE_CLASS",
                "target-storage-class": "GLACIER",
            }),
        ))
        .expect_err("unknown storage class");
        assert!(
            matches!(&glacier, EventError::Unknown { action: Some(a), .. } if a == "GLACIER"),
            "{glacier}"
        );
    }

    #[test]
    fn invalid_json_reports_position() {
        let err = parse_event("{\n  \"id\": \"x\",\n}").expect_err("trailing comma");
        assert!(
            matches!(
                err,
                EventError::Json {
                    line: 3,
                    column: 1,
                    ..
                }
            ),
            "{err}"
        );
        let empty = parse_event("").expect_err("empty body");
        assert!(matches!(empty, EventError::Json { line: 1, .. }), "{empty}");
        assert!(empty.to_string().contains("EOF"), "{empty}");
    }

    #[test]
    fn null_optional_fields_count_as_absent() {
        let body = event(
            "ECR Image Action",
            "aws.ecr",
            serde_json::json!({
                "action-type": "DELETE", "repository-name": "a",
                "image-digest": null, "image-tag": null, "image-tags": null,
            }),
        );
        let got = parse_event(&body).expect("nulls are fine");
        assert_eq!((got[0].digest.clone(), got[0].tag.clone()), (None, None));
        assert_eq!(got[0].kind, TriggerKind::Delete);
    }
}
