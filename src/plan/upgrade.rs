//! The module's upgrade rules: the versions git asks for against those that run. Pure, like the
//! rest of the planner; checked before anything is planned or applied.

use crate::desired::Desired;
use crate::error::{Error, Invalid};
use crate::istio::version::check_step;
use crate::live::LiveState;

/// Whether the desired Istio and module versions may follow those that run: Istio one minor
/// version at a time from the lowest control-plane version, no downgrade of either. An error names
/// the file of the CR (or the desired directory).
pub fn check(desired: &Desired, live: &LiveState) -> Result<(), Error> {
    let origin = || {
        desired
            .istio_file
            .clone()
            .unwrap_or_else(|| desired.source.path.clone())
    };
    if let (Some(target), Some(lowest)) =
        (desired.istio_version, live.control_plane_versions().first())
    {
        check_step(*lowest, target).map_err(|e| Error::Input {
            origin: origin(),
            source: Invalid::IstioStep(e),
        })?;
    }
    if let (Some(target), Some(running)) = (
        desired.module_version,
        live.manager.as_ref().and_then(|m| m.version),
    ) && target < running
    {
        return Err(Error::Input {
            origin: origin(),
            source: Invalid::ModuleDowngrade { running, target },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Source;
    use crate::error::report;
    use crate::live::{ControlPlaneImage, ModuleRelease};

    fn desired(istio: &str, module: &str) -> Desired {
        Desired {
            source: Source {
                repo: "r".into(),
                reference: "HEAD".into(),
                commit: "c".into(),
                path: "istio".into(),
            },
            istio: None,
            istio_file: Some("istio/cr.yaml".into()),
            module_version: Some(module.parse().unwrap()),
            proxy_image: None,
            istio_version: Some(istio.parse().unwrap()),
            istio_version_from: "test".into(),
            features: None,
        }
    }

    /// A cluster whose control plane runs the `istio` versions, under module `module`.
    fn live(istio: &[&str], module: &str) -> LiveState {
        LiveState {
            manager: Some(ModuleRelease {
                version: Some(module.parse().unwrap()),
                proxy_image: None,
            }),
            control_plane: istio
                .iter()
                .map(|v| ControlPlaneImage {
                    object: "Pod istio-system/istiod-1".into(),
                    container: "discovery".into(),
                    image: format!("registry.example/istio/pilot:{v}-distroless"),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn error(d: &Desired, l: &LiveState) -> String {
        let e = check(d, l).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::ExitCode::InvalidInput);
        report(&e)
    }

    #[test]
    fn one_minor_version_up_and_the_same_version_pass() {
        check(&desired("1.30.2", "1.30.0"), &live(&["1.29.3"], "1.29.0")).unwrap();
        check(&desired("1.30.2", "1.30.0"), &live(&["1.30.2"], "1.30.0")).unwrap();
        // Nothing runs yet: nothing to compare with.
        check(&desired("1.30.2", "1.30.0"), &LiveState::default()).unwrap();
    }

    #[test]
    fn the_lowest_running_version_counts() {
        let l = live(&["1.30.2", "1.28.6"], "1.29.0");
        assert_eq!(
            error(&desired("1.30.2", "1.30.0"), &l),
            "istio/cr.yaml: Istio upgrade from 1.28.6 to 1.30.2 skips a minor version; upgrade one minor version at a time"
        );
    }

    #[test]
    fn downgrades_and_major_changes_are_refused() {
        let l = live(&["1.29.3"], "1.29.0");
        assert_eq!(
            error(&desired("1.28.6", "1.29.0"), &l),
            "istio/cr.yaml: Istio downgrade from 1.29.3 to 1.28.6 is not supported"
        );
        assert!(error(&desired("2.0.0", "1.29.0"), &l).contains("major version change"));
        assert_eq!(
            error(&desired("1.29.3", "1.20.0"), &l),
            "istio/cr.yaml: module downgrade from 1.29.0 to 1.20.0 is not supported"
        );
    }

    #[test]
    fn without_a_cr_file_the_desired_directory_is_named() {
        let mut d = desired("1.29.3", "1.20.0");
        d.istio_file = None;
        let e = error(&d, &live(&["1.29.3"], "1.29.0"));
        assert!(e.starts_with("istio: module downgrade"), "{e}");
    }
}
