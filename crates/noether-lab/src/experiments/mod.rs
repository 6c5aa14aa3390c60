//! One module per experiment; shared building blocks in [`common`] (runs, views, fits) and
//! [`crossover_common`] (spectral-crossover predictions shared by E08 and E12).

pub mod common;
mod cd1;
mod cd3;
mod cd_common;
mod conservation_laws;
mod crossover_common;
mod e04;
mod e05;
mod e06;
mod e07;
mod e08;
mod e09;
mod e10;
mod e11;
mod e12;

use crate::Experiment;

/// Every implemented experiment, in suite order.
pub fn registry() -> Vec<&'static dyn Experiment> {
    vec![
        &conservation_laws::E01,
        &conservation_laws::E02,
        &conservation_laws::E03,
        &e04::E04,
        &e05::E05,
        &e06::E06,
        &e07::E07,
        &e08::E08,
        &e09::E09,
        &e10::E10,
        &e11::E11,
        &e12::E12,
        &cd1::CD1,
        &cd3::CD3,
    ]
}
