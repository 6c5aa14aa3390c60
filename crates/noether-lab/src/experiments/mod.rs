//! One module per experiment; shared building blocks in [`common`].

pub mod common;
mod e05;

use crate::Experiment;

/// Every implemented experiment, in suite order.
pub fn registry() -> Vec<&'static dyn Experiment> {
    vec![&e05::E05]
}
