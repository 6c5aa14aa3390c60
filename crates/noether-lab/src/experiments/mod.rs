//! One module per experiment; shared building blocks in [`common`] (runs, views, fits) and in
//! the `*_common` / `alpha_grid` modules shared by a family of experiments.

mod alpha_grid;
mod cd1;
mod cd2;
mod cd3;
mod cd4;
mod cd_common;
pub mod ck_common;
pub mod common;
mod conservation_laws;
mod crossover_common;
mod drift_fits;
mod e04;
mod e05;
mod e06;
mod e07;
mod e08;
mod e09;
mod e10;
mod e11;
mod e12;
mod e13;
mod e14;
mod e15;
mod e16;
mod e17;
mod e18;
mod e19;
mod e20;
mod e21;
mod e22;
mod e23;
mod hessian_time;
mod width_common;

use crate::experiment::DynExperiment;

/// Every implemented experiment, in suite order.
pub fn registry() -> Vec<&'static dyn DynExperiment> {
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
        &e13::E13,
        &e14::E14,
        &e15::E15,
        &e16::E16,
        &e17::E17,
        &e18::E18,
        &e19::E19,
        &e20::E20,
        &e21::E21,
        &e22::E22,
        &e23::E23,
        &cd1::CD1,
        &cd2::CD2,
        &cd3::CD3,
        &cd4::CD4,
    ]
}
