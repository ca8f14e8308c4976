//! The desired state: the `Istio` CR and module version that git asks for.
//!
//! [`git`] reads the files; [`parse`] (pure) turns them into a [`Desired`].
pub mod git;

use crate::documents;
use crate::error::{Error, Invalid, Result, decode};
use crate::istio::cr::{API_VERSION, KIND};
use crate::istio::features::{self, Features};
use crate::istio::validate::parse_istio;
use crate::istio::version::{TableEntry, istio_for_module};
use crate::istio::{ImageRef, Istio, Version};
use crate::live::convert::{MANAGER_NAME, module_release};
pub use git::{File, Source};
use serde_json::Value;

/// A plain file naming the module version (one line, e.g. `1.30.0`), at the top of `--path`.
pub const VERSION_FILE: &str = "ISTIO_MODULE_VERSION";

#[derive(Clone, Debug)]
pub struct Desired {
    pub source: Source,
    /// `None`: git holds no Istio CR, so Istio is to be uninstalled.
    pub istio: Option<Istio>,
    /// The file the CR came from.
    pub istio_file: Option<String>,
    pub module_version: Option<Version>,
    /// The exact sidecar image of the release (`proxyv2`), when the release manifest is vendored.
    pub proxy_image: Option<String>,
    /// The Istio version sidecars must run. `None` only for an uninstall.
    pub istio_version: Option<Version>,
    /// Where `istio_version` came from, in words.
    pub istio_version_from: String,
    /// The flags of ConfigMap `kyma-system/istio-features` when git holds it (with the file it
    /// came from); `None`: the live one stands.
    pub features: Option<(String, Features)>,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub allow_uninstall: bool,
    pub istio_version_override: Option<Version>,
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Turns the files of the desired directory into a [`Desired`]. Pure.
pub fn parse(source: Source, files: &[File], opts: &Options) -> Result<Desired> {
    let mut crs: Vec<(String, Istio)> = Vec::new();
    let mut manifest: Option<(String, crate::live::ModuleRelease)> = None;
    let mut version_file: Option<(String, Version)> = None;
    let mut features: Option<(String, Features)> = None;
    let mut yaml_files = Vec::new();
    let top = |p: &str| {
        if source.path == "." {
            p.to_string()
        } else {
            format!("{}/{p}", source.path)
        }
    };
    for file in files {
        let origin = crate::escape::value(&file.path);
        if file.path == top(VERSION_FILE) {
            let text = String::from_utf8_lossy(&file.contents);
            let v = text
                .trim()
                .parse()
                .map_err(|e: String| Error::input(&origin, e))?;
            version_file = Some((origin, v));
            continue;
        }
        if !is_yaml(&file.path) {
            continue;
        }
        yaml_files.push(file.path.clone());
        let text = std::str::from_utf8(&file.contents).map_err(|e| Error::Input {
            origin: origin.clone(),
            source: Invalid::Utf8(e),
        })?;
        let docs = documents::parse(&origin, text)?;
        for doc in docs {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
            let api = doc
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind == KIND && api.starts_with("operator.kyma-project.io/") {
                let istio = parse_istio(&doc).map_err(|e| Error::Input {
                    origin: origin.clone(),
                    source: Invalid::from(e).in_object(documents::describe(&doc)),
                })?;
                crs.push((origin.clone(), istio));
            } else if kind == "ConfigMap"
                && api == "v1"
                && doc.pointer("/metadata/name").and_then(Value::as_str)
                    == Some(features::FEATURES_CONFIGMAP)
                && doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .is_none_or(|n| n == features::NAMESPACE)
            {
                let what = format!(
                    "ConfigMap {}/{}",
                    features::NAMESPACE,
                    features::FEATURES_CONFIGMAP
                );
                if let Some((first, _)) = &features {
                    return Err(Error::input(
                        &origin,
                        format!("{what} is also in {first}; keep exactly one"),
                    ));
                }
                let mut cm: k8s_openapi::api::core::v1::ConfigMap =
                    decode(doc).map_err(|e| Error::Input {
                        origin: origin.clone(),
                        source: Invalid::from(e).in_object(what.clone()),
                    })?;
                cm.metadata.namespace = Some(features::NAMESPACE.into());
                let f = features::parse(&cm).map_err(|e| Error::Input {
                    origin: origin.clone(),
                    source: e.in_object(what),
                })?;
                features = Some((origin.clone(), f));
            } else if kind == "Deployment"
                && doc.pointer("/metadata/name").and_then(Value::as_str) == Some(MANAGER_NAME)
            {
                let d: k8s_openapi::api::apps::v1::Deployment =
                    decode(doc).map_err(|e| Error::Input {
                        origin: origin.clone(),
                        source: Invalid::from(e).in_object(format!("Deployment {MANAGER_NAME}")),
                    })?;
                let release = module_release(&d);
                if release.version.is_none() {
                    return Err(Error::input(
                        &origin,
                        format!(
                            "Deployment {MANAGER_NAME}: label `app.kubernetes.io/version` is missing or not a version"
                        ),
                    ));
                }
                // Two release manifests must agree: which one the GitOps tool applies last is
                // not for this tool to guess.
                if let Some((first, m)) = &manifest
                    && (m.version != release.version || m.proxy_image != release.proxy_image)
                {
                    let show = |r: &crate::live::ModuleRelease| {
                        format!(
                            "version {}, proxyv2 `{}`",
                            r.version.map(|v| v.to_string()).unwrap_or_default(),
                            r.proxy_image.as_deref().unwrap_or("unset")
                        )
                    };
                    return Err(Error::input(
                        &origin,
                        format!(
                            "Deployment {MANAGER_NAME} ({}) disagrees with the one in {first} ({}); keep exactly one module release",
                            show(&release),
                            show(m)
                        ),
                    ));
                }
                manifest = Some((origin.clone(), release));
            }
        }
    }
    if crs.len() > 1 {
        let list: Vec<String> = crs
            .iter()
            .map(|(f, i)| {
                format!(
                    "{f} ({}/{})",
                    i.metadata.namespace.as_deref().unwrap_or("?"),
                    i.metadata.name.as_deref().unwrap_or("?")
                )
            })
            .collect();
        return Err(Error::input(
            &crs[1].0,
            format!(
                "more than one {KIND} CR: {}; keep exactly one",
                list.join(" and ")
            ),
        ));
    }
    let cr = crs.pop();
    if cr.is_none() && !opts.allow_uninstall {
        let looked = format!("{}@{}:{}", source.repo, source.reference, source.path);
        let read = if yaml_files.is_empty() {
            "no *.yaml or *.yml file there".to_string()
        } else {
            format!("{} YAML files read", yaml_files.len())
        };
        return Err(Error::input(
            looked,
            format!(
                "no {API_VERSION} {KIND} CR found ({read}); an absent CR means uninstall: pass --allow-uninstall if that is intended, else check --path"
            ),
        ));
    }

    let module_version = match (&manifest, &version_file) {
        (Some((mf, m)), Some((vf, v))) if m.version != Some(*v) => {
            return Err(Error::input(
                vf,
                format!(
                    "says module version {v} but {mf} says {}",
                    m.version.map(|v| v.to_string()).unwrap_or_default()
                ),
            ));
        }
        (Some((_, m)), _) => m.version,
        (None, Some((_, v))) => Some(*v),
        (None, None) => None,
    };
    let proxy_image = manifest.as_ref().and_then(|(_, m)| m.proxy_image.clone());
    let proxy_version = proxy_image
        .as_deref()
        .and_then(|i| ImageRef::parse(i).version());

    let (istio_version, from) = if cr.is_none() {
        (None, String::new())
    } else {
        target_istio(
            opts.istio_version_override,
            proxy_image.as_deref(),
            proxy_version,
            module_version,
            manifest.as_ref().map(|m| m.0.as_str()),
        )?
    };
    let (istio_file, istio) = match cr {
        Some((f, i)) => (Some(f), Some(i)),
        None => (None, None),
    };
    Ok(Desired {
        source,
        istio,
        istio_file,
        module_version,
        proxy_image,
        istio_version,
        istio_version_from: from,
        features,
    })
}

fn target_istio(
    override_: Option<Version>,
    proxy_image: Option<&str>,
    proxy_version: Option<Version>,
    module: Option<Version>,
    manifest_file: Option<&str>,
) -> Result<(Option<Version>, String)> {
    if let Some(o) = override_ {
        if let (Some(p), Some(img)) = (proxy_version, proxy_image)
            && p != o
        {
            return Err(Error::Usage(format!(
                "--istio-version {o} disagrees with the release manifest's proxyv2 image `{img}`"
            )));
        }
        return Ok((Some(o), "--istio-version".into()));
    }
    if let Some(p) = proxy_version {
        return Ok((
            Some(p),
            format!(
                "proxyv2 image in {}",
                manifest_file.unwrap_or("the release manifest")
            ),
        ));
    }
    let Some(module) = module else {
        return Err(Error::Usage(format!(
            "no module version in the desired directory: vendor the module's istio-manager.yaml or add a {VERSION_FILE} file, or pass --istio-version"
        )));
    };
    match istio_for_module(module) {
        Some(TableEntry::Exact(v)) => Ok((Some(v), format!("module {module} release table"))),
        Some(TableEntry::Ambiguous { minor: (a, b) }) => Err(Error::Usage(format!(
            "module {module} shipped more than one Istio {a}.{b} patch; vendor its istio-manager.yaml (proxyv2 image) or pass --istio-version"
        ))),
        None => Err(Error::Usage(format!(
            "module {module} is not in the release table; vendor its istio-manager.yaml (proxyv2 image) or pass --istio-version"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source {
            repo: "r".into(),
            reference: "HEAD".into(),
            commit: "c".into(),
            path: "d".into(),
        }
    }

    const CR: &str = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: default, namespace: kyma-system}\nspec: {}\n";

    fn files(version: &str) -> Vec<File> {
        vec![
            File {
                path: "d/cr.yaml".into(),
                contents: CR.into(),
            },
            File {
                path: "d/ISTIO_MODULE_VERSION".into(),
                contents: version.into(),
            },
        ]
    }

    #[test]
    fn ambiguous_table_rows_need_the_manifest_or_an_override() {
        let err = parse(source(), &files("1.22.0"), &Options::default()).unwrap_err();
        assert!(
            err.to_string().contains("more than one Istio 1.27 patch"),
            "{err}"
        );
        let opts = Options {
            istio_version_override: Some(Version::new(1, 27, 4)),
            ..Default::default()
        };
        let d = parse(source(), &files("1.22.0"), &opts).unwrap();
        assert_eq!(d.istio_version, Some(Version::new(1, 27, 4)));
    }

    #[test]
    fn the_version_file_must_hold_a_version() {
        let err = parse(source(), &files("one point thirty"), &Options::default()).unwrap_err();
        assert!(
            crate::error::report(&err).starts_with("d/ISTIO_MODULE_VERSION: "),
            "{err}"
        );
    }

    fn manager(version: &str, proxy: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: istio-controller-manager\n  namespace: kyma-system\n  labels: {{app.kubernetes.io/version: \"{version}\"}}\nspec:\n  selector: {{}}\n  template:\n    spec:\n      containers:\n      - name: manager\n        env:\n        - {{name: proxyv2, value: \"{proxy}\"}}\n"
        )
    }

    #[test]
    fn two_release_manifests_must_agree() {
        let cases = [
            ("1.30.0", "p:1.30.2", "1.30.1", "p:1.30.4", true),
            ("1.30.0", "p:1.30.2", "1.30.0", "p:1.30.3", true),
            ("1.30.0", "p:1.30.2", "1.30.0", "p:1.30.2", false),
        ];
        for (v1, p1, v2, p2, fails) in cases {
            let f = vec![
                File {
                    path: "d/cr.yaml".into(),
                    contents: CR.into(),
                },
                File {
                    path: "d/a/istio-manager.yaml".into(),
                    contents: manager(v1, p1).into(),
                },
                File {
                    path: "d/b/istio-manager.yaml".into(),
                    contents: manager(v2, p2).into(),
                },
            ];
            let r = parse(source(), &f, &Options::default());
            match (r, fails) {
                (Err(e), true) => {
                    let e = crate::error::report(&e);
                    assert!(e.starts_with("d/b/istio-manager.yaml: "), "{e}");
                    assert!(e.contains("d/a/istio-manager.yaml"), "{e}");
                    assert!(matches!(
                        parse(source(), &f, &Options::default()),
                        Err(Error::Input { .. })
                    ));
                }
                (Ok(d), false) => assert_eq!(d.module_version, Some(Version::new(1, 30, 0))),
                (r, _) => panic!("{v1}/{p1} and {v2}/{p2}: {:?}", r.map(|d| d.module_version)),
            }
        }
    }

    #[test]
    fn only_the_top_level_version_file_counts() {
        let mut f = files("1.30.0");
        f[1].path = "d/sub/ISTIO_MODULE_VERSION".into();
        let err = parse(source(), &f, &Options::default()).unwrap_err();
        assert!(err.to_string().contains("no module version"), "{err}");
    }
}
