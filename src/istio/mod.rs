//! The Istio module's vocabulary: the CR, versions and images, and CR validation.
pub mod cr;
pub mod features;
pub mod validate;
pub mod version;

pub use cr::{Istio, IstioSpec};
pub use version::{ImageRef, Version};
