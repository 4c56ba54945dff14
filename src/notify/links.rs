//! Where a person clicks to see an event's commit, pull request, image and
//! Argo CD application, from the config alone (pure).

use crate::config::{Config, ForgeKind};
use crate::forge::github::DEFAULT_API_URL;

/// The repository's web page on GitHub (`https://github.com/owner/name`,
/// or the host of a GitHub Enterprise Server `…/api/v3`). The local forge
/// has none.
pub fn repository_url(config: &Config) -> Option<String> {
    let forge = config.forge.as_ref()?;
    if forge.kind != ForgeKind::Github {
        return None;
    }
    let repository = forge.repository.as_deref()?;
    let api = forge.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
    let url = reqwest::Url::parse(api).ok()?;
    let host = url.host_str()?;
    let base = if host.eq_ignore_ascii_case("api.github.com") {
        "https://github.com".to_string()
    } else {
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{host}{port}", url.scheme())
    };
    Some(format!("{base}/{repository}"))
}

/// The commit's web page.
pub fn commit_url(config: &Config, sha: &str) -> Option<String> {
    let valid = !sha.is_empty() && sha.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| repository_url(config).map(|r| format!("{r}/commit/{sha}")))?
}

/// The Argo CD application that deploys `app` in `env`, and its page.
pub fn argocd(config: &Config, env: &str, app: &str) -> Option<(String, String)> {
    let base = config
        .argocd
        .as_ref()?
        .url
        .trim_end_matches('/')
        .to_string();
    let name = config
        .environments
        .iter()
        .find(|e| e.name == env)?
        .argocd_app_for(app)?;
    Some((name.clone(), format!("{base}/applications/{name}")))
}

/// The AWS console page of an image, when its repository is an ECR URI.
pub fn ecr(image: Option<&str>, digest: Option<&str>) -> Option<String> {
    crate::promotion::promote::ecr_console_link(image?, digest?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(forge: &str) -> Config {
        crate::config::parse(&format!(
            "{forge}argocd: {{url: 'https://argocd.acme.io/'}}\nenvironments:\n  - {{name: dev, mode: commit, argocd_app: '{{app}}-dev'}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn github_and_enterprise_have_web_pages_the_local_forge_none() {
        let gh = config("forge: {kind: github, repository: acme/gitops, token_env: T}\n");
        assert_eq!(
            commit_url(&gh, "0123abc").as_deref(),
            Some("https://github.com/acme/gitops/commit/0123abc")
        );
        assert_eq!(commit_url(&gh, "not a sha"), None);
        let ghe = config(
            "forge: {kind: github, repository: acme/gitops, token_env: T, api_url: 'https://ghe.acme.io/api/v3'}\n",
        );
        assert_eq!(
            repository_url(&ghe).as_deref(),
            Some("https://ghe.acme.io/acme/gitops")
        );
        let local = config("forge: {kind: local, path: prs.json, repository: acme/gitops}\n");
        assert_eq!(commit_url(&local, "0123abc"), None);
        assert_eq!(
            argocd(&gh, "dev", "api"),
            Some((
                "api-dev".to_string(),
                "https://argocd.acme.io/applications/api-dev".to_string()
            ))
        );
        assert_eq!(argocd(&gh, "staging", "api"), None);
    }
}
