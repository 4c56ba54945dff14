//! Taking a snapshot: read every app's candidates from the registry, judge
//! them with the gates (only as far as needed), and read each overlay's
//! running image and pin from the repository checkout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use std::sync::Arc;

use super::snapshot::{AppState, EnvState, Judged, Running, Snapshot};
use crate::config::{App, Config};
use crate::gates::Gates;
use crate::image::{Digest, Tag};
use crate::kustomize;
use crate::registry::policy::TagPolicy;
use crate::registry::{ImageRecord, ImageSource};

/// One overlay's kustomization, parsed once per snapshot however many apps
/// it holds.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// The kustomization file, relative to the repository root.
    file: PathBuf,
    images: Vec<kustomize::ImageEntry>,
    pins: Vec<kustomize::Pin>,
}

impl Overlay {
    /// Reads and parses the kustomization in `repo_root/dir`. Links are
    /// followed only inside the checkout; the file is the real one.
    pub fn load(repo_root: &Path, dir: &Path) -> Result<Self, String> {
        let file = kustomize::resolve_in(repo_root, dir).map_err(|e| e.to_string())?;
        let src = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let located = |e: kustomize::EditError| e.in_file(&file).to_string();
        Ok(Overlay {
            file: file.strip_prefix(repo_root).unwrap_or(&file).to_path_buf(),
            images: kustomize::read_images(&src).map_err(located)?,
            pins: kustomize::read_pins(&src).map_err(located)?,
        })
    }

    /// The kustomization file, relative to the repository root.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The `newName` of `image`, if the overlay renames it.
    pub fn new_name(&self, image: &str) -> Option<&str> {
        self.images
            .iter()
            .find(|e| e.name == image)
            .and_then(|e| e.new_name.as_deref())
    }

    /// What runs for `image`, and its pin. A `newTag` or `digest` that is
    /// not valid for the image grammar is an error naming the file and
    /// line: such a value is never used, printed raw or written back.
    pub fn get(&self, image: &str) -> (Result<Option<Running>, String>, Option<kustomize::Pin>) {
        let pin = self.pins.iter().find(|p| p.image == image).cloned();
        let Some(e) = self.images.iter().find(|e| e.name == image) else {
            return (Ok(None), pin);
        };
        let invalid = |field: &str, why: String| {
            Err(format!(
                "{}:{}: the {field} of image {image:?} is not valid: {why}",
                self.file.display(),
                e.line
            ))
        };
        if let Some(p) = &e.problem {
            return (Err(p.clone().in_file(&self.file).to_string()), pin);
        }
        if let Some(t) = &e.new_tag
            && let Err(err) = Tag::parse(t)
        {
            return (invalid("newTag", err.to_string()), pin);
        }
        if let Some(d) = &e.digest
            && let Err(err) = Digest::parse(d)
        {
            return (invalid("digest", err.to_string()), pin);
        }
        let running = Running {
            tag: e.new_tag.clone(),
            digest: e.digest.clone(),
        };
        (Ok(Some(running)), pin)
    }
}

/// What an overlay holds for one image: what runs and any pin.
pub fn read_overlay(
    repo_root: &Path,
    dir: &Path,
    image: &str,
) -> Result<(Option<Running>, Option<kustomize::Pin>), String> {
    let o = Overlay::load(repo_root, dir)?;
    let (running, pin) = o.get(image);
    Ok((running?, pin))
}

/// Takes the snapshot for `config` from the checkout at `repo_root`.
/// Each repository is listed once per snapshot; candidates are judged
/// newest first and only until one passes or what runs is reached.
pub async fn take<S: ImageSource>(
    config: &Config,
    repo_root: &Path,
    source: &S,
    gates: &Gates,
) -> Snapshot {
    let mut listings: HashMap<String, Result<Arc<Vec<ImageRecord>>, String>> = HashMap::new();
    let mut overlays: HashMap<PathBuf, Result<Overlay, String>> = HashMap::new();
    let mut apps = Vec::with_capacity(config.apps.len());
    for app in &config.apps {
        if !listings.contains_key(&app.repository) {
            let l = source
                .list_images(&app.repository)
                .await
                .map(Arc::new)
                .map_err(|e| e.to_string());
            listings.insert(app.repository.clone(), l);
        }
        let envs = env_states(config, app, repo_root, &mut overlays);
        let (candidates, records) = match &listings[&app.repository] {
            Err(e) => (Err(e.clone()), Arc::default()),
            Ok(records) => (
                Ok(judge(app, records, &envs, source, gates).await),
                records.clone(),
            ),
        };
        apps.push(AppState {
            app: app.name.clone(),
            image: app.image.clone(),
            candidates,
            records,
            envs,
        });
    }
    Snapshot {
        taken_at: OffsetDateTime::now_utc(),
        apps,
        proposals: Vec::new(),
        forge_error: None,
    }
}

fn env_states(
    config: &Config,
    app: &App,
    repo_root: &Path,
    overlays: &mut HashMap<PathBuf, Result<Overlay, String>>,
) -> Vec<EnvState> {
    config
        .environments
        .iter()
        .filter_map(|env| {
            let dir = app.overlays.get(&env.name)?;
            let overlay = overlays
                .entry(dir.clone())
                .or_insert_with(|| Overlay::load(repo_root, dir));
            let (running, pin, file, new_name) = match overlay {
                Ok(o) => {
                    let (r, p) = o.get(&app.image);
                    let name = o.new_name(&app.image).map(str::to_string);
                    (r, p, Some(o.file().to_path_buf()), name)
                }
                Err(e) => (Err(e.clone()), None, None, None),
            };
            Some(EnvState {
                env: env.name.clone(),
                mode: env.mode,
                after: env.after.clone(),
                group: env.group,
                running,
                pin,
                file,
                new_name,
                proof: None,
                open_pr: None,
                rejected: None,
                window: Default::default(),
                incoming: None,
                foreign_pr: None,
                live: None,
                watch: None,
                analysis: Vec::new(),
            })
        })
        .collect()
}

async fn judge<S: ImageSource>(
    app: &App,
    records: &[ImageRecord],
    envs: &[EnvState],
    source: &S,
    gates: &Gates,
) -> Vec<Judged> {
    // Digests that registry-fed environments run: judging stops there.
    let running: Vec<&str> = envs
        .iter()
        .filter(|e| e.after.is_none())
        .filter_map(|e| e.running.as_ref().ok()?.as_ref()?.digest.as_deref())
        .collect();
    let mut stop = false;
    let mut out = Vec::new();
    for c in TagPolicy::for_app(app).candidates(records) {
        let verdict = if stop || running.contains(&c.digest.as_str()) {
            stop = true;
            None
        } else {
            let v = gates.check(source, &app.repository, &c.digest).await;
            stop = v.passes();
            Some(v)
        };
        out.push(Judged {
            candidate: c,
            verdict,
        });
    }
    out
}
