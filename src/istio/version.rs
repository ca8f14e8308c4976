//! Versions of the module and of Istio, proxy image references, and the module-to-Istio table.

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A `major.minor.patch` version. Suffixes are flavours or builds of the same release
/// (`1.30.2-distroless`, FIPS builds such as `1.30.2-1`, `+build`), so they are dropped when
/// parsing and two flavours of a release are equal.
///
/// Not `semver::Version`: semver reads those suffixes as pre-releases, which order *before* the
/// release (`1.30.2-1 < 1.30.2`) and make the flavours unequal, rejects the `v` prefix of image
/// tags, and is not `Copy`; what is left to use of it is splitting on dots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Version {
    type Err = String;

    /// Accepts `1.30.2`, `v1.30.2`, `1.30.2-distroless`, `1.30.2+build`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let core = t.split(['-', '+']).next().unwrap_or_default();
        let parts: Vec<&str> = core.split('.').collect();
        let num = |p: &str| p.parse::<u64>().ok().filter(|_| !p.is_empty());
        match parts.as_slice() {
            [a, b, c] => match (num(a), num(b), num(c)) {
                (Some(a), Some(b), Some(c)) => Ok(Version::new(a, b, c)),
                _ => Err(format!(
                    "`{}` is not a version of the form MAJOR.MINOR.PATCH",
                    crate::escape::value(s)
                )),
            },
            _ => Err(format!(
                "`{}` is not a version of the form MAJOR.MINOR.PATCH",
                crate::escape::value(s)
            )),
        }
    }
}

/// Why a version step is not allowed (the module's upgrade rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("downgrade from {live} to {target} is not supported")]
    Downgrade { live: Version, target: Version },
    #[error("major version change from {live} to {target} is not supported")]
    MajorChange { live: Version, target: Version },
    #[error(
        "upgrade from {live} to {target} skips a minor version; upgrade one minor version at a time"
    )]
    SkipsMinor { live: Version, target: Version },
}

/// Whether the step from `live` to `target` is allowed (the module's upgrade rule).
pub fn check_step(live: Version, target: Version) -> Result<(), StepError> {
    if target < live {
        return Err(StepError::Downgrade { live, target });
    }
    if target.major != live.major {
        return Err(StepError::MajorChange { live, target });
    }
    if target.minor > live.minor + 1 {
        return Err(StepError::SkipsMinor { live, target });
    }
    Ok(())
}

/// A container image reference, split into the parts that matter for version comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Everything before the tag and digest (registry and path).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(image: &str) -> ImageRef {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        // A ':' after the last '/' separates the tag; one before it is a registry port.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[slash..].rfind(':') {
            Some(i) => (
                rest[..slash + i].to_string(),
                Some(rest[slash + i + 1..].to_string()),
            ),
            None => (rest.to_string(), None),
        };
        ImageRef {
            repository,
            tag,
            digest,
        }
    }

    /// The image name without registry or path (`proxyv2`).
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The Istio version the tag names, if it names one.
    pub fn version(&self) -> Option<Version> {
        self.tag.as_deref().and_then(|t| t.parse().ok())
    }
}

/// What the module release table says about a module version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableEntry {
    Exact(Version),
    /// The releases in this range shipped more than one Istio patch; the table cannot tell which.
    Ambiguous {
        minor: (u64, u64),
    },
}

/// Module version ranges (inclusive) and the Istio version their releases install.
/// Source: the module's release notes, summarised in the project's domain notes.
/// `(first, last, entry)`: module versions `first..=last` (as `(major, minor, patch)`) install `entry`.
type TableRow = ((u64, u64, u64), (u64, u64, u64), TableEntry);

const MODULE_TABLE: &[TableRow] = {
    use TableEntry::*;
    const fn v(a: u64, b: u64, c: u64) -> Version {
        Version::new(a, b, c)
    }
    &[
        ((1, 5, 0), (1, 5, 0), Exact(v(1, 21, 0))),
        ((1, 5, 1), (1, 6, 1), Exact(v(1, 21, 1))),
        ((1, 6, 2), (1, 6, 3), Exact(v(1, 21, 2))),
        ((1, 6, 4), (1, 7, 0), Exact(v(1, 21, 3))),
        ((1, 8, 0), (1, 8, 0), Exact(v(1, 22, 1))),
        ((1, 8, 1), (1, 8, 1), Exact(v(1, 22, 2))),
        ((1, 8, 2), (1, 8, 3), Exact(v(1, 22, 3))),
        ((1, 9, 0), (1, 10, 0), Exact(v(1, 23, 2))),
        ((1, 11, 0), (1, 13, 0), Exact(v(1, 24, 1))),
        ((1, 13, 1), (1, 16, 1), Exact(v(1, 24, 2))),
        ((1, 17, 0), (1, 17, 1), Exact(v(1, 25, 1))),
        ((1, 17, 2), (1, 18, 1), Exact(v(1, 25, 3))),
        ((1, 19, 0), (1, 20, u64::MAX), Ambiguous { minor: (1, 26) }),
        ((1, 21, 0), (1, 24, u64::MAX), Ambiguous { minor: (1, 27) }),
        ((1, 25, 0), (1, 25, 2), Exact(v(1, 28, 2))),
        ((1, 25, 3), (1, 26, 2), Exact(v(1, 28, 3))),
        ((1, 26, 3), (1, 26, 6), Exact(v(1, 28, 5))),
        ((1, 26, 7), (1, 26, 8), Exact(v(1, 28, 6))),
        ((1, 27, 0), (1, 27, 1), Exact(v(1, 29, 1))),
        ((1, 27, 2), (1, 27, 3), Exact(v(1, 29, 2))),
        ((1, 27, 4), (1, 27, 4), Exact(v(1, 29, 3))),
        ((1, 28, 0), (1, 28, 0), Exact(v(1, 30, 2))),
        ((1, 29, 0), (1, 29, 0), Exact(v(1, 30, 2))),
        ((1, 30, 0), (1, 30, 0), Exact(v(1, 30, 2))),
        ((1, 30, 1), (1, 30, 1), Exact(v(1, 30, 4))),
        ((1, 31, 0), (1, 31, 0), Exact(v(1, 30, 4))),
        ((1, 32, 0), (1, 32, 0), Exact(v(1, 31, 0))),
        ((1, 33, 0), (1, 33, 0), Exact(v(1, 31, 1))),
    ]
};

/// The Istio version a module release installs, from the release table.
pub fn istio_for_module(module: Version) -> Option<TableEntry> {
    let key = (module.major, module.minor, module.patch);
    MODULE_TABLE
        .iter()
        .find(|(from, to, _)| *from <= key && key <= *to)
        .map(|(_, _, e)| *e)
}

/// Proxy metadata flags that compatibility mode adds to sidecars, by Istio minor version.
/// From 1.25 on, compatibility flags are istiod-only and no sidecar needs a restart.
pub fn compatibility_proxy_flags(istio: Version) -> &'static [(&'static str, &'static str)] {
    match (istio.major, istio.minor) {
        (1, 22) => &[("ISTIO_DELTA_XDS", "false")],
        (1, 23) => &[
            ("ENABLE_DEFERRED_CLUSTER_CREATION", "false"),
            ("ENABLE_DELIMITED_STATS_TAG_REGEX", "false"),
        ],
        (1, 24) => &[
            ("ENABLE_DEFERRED_STATS_CREATION", "false"),
            ("BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS", "false"),
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_drop_flavours() {
        assert_eq!(
            "1.30.2-distroless".parse::<Version>().unwrap(),
            Version::new(1, 30, 2)
        );
        assert_eq!(
            "v1.29.0".parse::<Version>().unwrap(),
            Version::new(1, 29, 0)
        );
        assert!("1.30".parse::<Version>().is_err());
        assert!("latest".parse::<Version>().is_err());
        assert!("1..2".parse::<Version>().is_err());
        assert_eq!(
            "1.30.2-1".parse::<Version>().unwrap(),
            "1.30.2".parse::<Version>().unwrap()
        );
        assert!("1.30.2-1".parse::<Version>().unwrap() > Version::new(1, 30, 1));
        assert!(Version::new(1, 30, 10) > Version::new(1, 30, 9));
    }

    #[test]
    fn image_refs_split_registry_port_tag_and_digest() {
        let i = ImageRef::parse("mirror.local:5000/istio/proxyv2:1.30.2-distroless@sha256:abc");
        assert_eq!(i.repository, "mirror.local:5000/istio/proxyv2");
        assert_eq!(i.tag.as_deref(), Some("1.30.2-distroless"));
        assert_eq!(i.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(i.name(), "proxyv2");
        assert_eq!(i.version(), Some(Version::new(1, 30, 2)));
        let d = ImageRef::parse("mirror.local:5000/proxyv2@sha256:abc");
        assert_eq!(d.tag, None);
        assert_eq!(d.version(), None);
    }

    #[test]
    fn upgrade_rule() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(check_step(v("1.29.3"), v("1.30.2")).is_ok());
        assert!(check_step(v("1.30.2"), v("1.30.2")).is_ok());
        assert!(
            check_step(v("1.30.2"), v("1.29.3"))
                .unwrap_err()
                .to_string()
                .contains("downgrade")
        );
        assert!(
            check_step(v("1.28.3"), v("1.30.2"))
                .unwrap_err()
                .to_string()
                .contains("skips")
        );
        assert!(
            check_step(v("1.30.2"), v("2.0.0"))
                .unwrap_err()
                .to_string()
                .contains("major")
        );
    }

    #[test]
    fn module_table() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert_eq!(
            istio_for_module(v("1.30.0")),
            Some(TableEntry::Exact(v("1.30.2")))
        );
        assert_eq!(
            istio_for_module(v("1.27.4")),
            Some(TableEntry::Exact(v("1.29.3")))
        );
        assert_eq!(
            istio_for_module(v("1.14.0")),
            Some(TableEntry::Exact(v("1.24.2")))
        );
        assert!(matches!(
            istio_for_module(v("1.22.5")),
            Some(TableEntry::Ambiguous { .. })
        ));
        assert_eq!(istio_for_module(v("1.4.0")), None);
        // Releases after 1.30.0.
        for (module, istio) in [
            ("1.30.1", "1.30.4"),
            ("1.31.0", "1.30.4"),
            ("1.32.0", "1.31.0"),
            ("1.33.0", "1.31.1"),
        ] {
            assert_eq!(
                istio_for_module(v(module)),
                Some(TableEntry::Exact(v(istio))),
                "{module}"
            );
        }
        assert_eq!(istio_for_module(v("1.30.2")), None, "not released");
        assert_eq!(istio_for_module(v("1.31.1")), None, "not released");
        assert_eq!(istio_for_module(v("1.34.0")), None);
    }

    #[test]
    fn steps_are_judged_on_istio_versions_not_module_versions() {
        let istio = |m: &str| match istio_for_module(m.parse().unwrap()) {
            Some(TableEntry::Exact(v)) => v,
            e => panic!("{m}: {e:?}"),
        };
        // (from module, to module, allowed)
        let cases = [
            ("1.30.0", "1.30.1", true),  // 1.30.2 -> 1.30.4
            ("1.30.1", "1.31.0", true),  // 1.30.4 -> 1.30.4: the same Istio
            ("1.31.0", "1.32.0", true),  // 1.30.4 -> 1.31.0
            ("1.30.0", "1.33.0", true),  // 1.30.2 -> 1.31.1: one minor
            ("1.27.4", "1.32.0", false), // 1.29.3 -> 1.31.0 skips 1.30
            ("1.27.4", "1.30.0", true),  // 1.29.3 -> 1.30.2
            ("1.26.8", "1.30.1", false), // 1.28.6 -> 1.30.4 skips 1.29
            ("1.33.0", "1.32.0", false), // 1.31.1 -> 1.31.0: a downgrade
            ("1.27.2", "1.27.1", false), // 1.29.2 -> 1.29.1: a downgrade
        ];
        for (from, to, ok) in cases {
            assert_eq!(
                check_step(istio(from), istio(to)).is_ok(),
                ok,
                "module {from} -> {to}"
            );
        }
    }

    #[test]
    fn compatibility_flags_by_minor() {
        assert_eq!(compatibility_proxy_flags(Version::new(1, 22, 3)).len(), 1);
        assert_eq!(compatibility_proxy_flags(Version::new(1, 24, 2)).len(), 2);
        assert!(compatibility_proxy_flags(Version::new(1, 30, 2)).is_empty());
    }
}
