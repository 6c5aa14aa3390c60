//! noether: one dependency that re-exports the workspace's crates.
//!
//! Each crate can also be used on its own; see ARCHITECTURE.md for what each one owns.
pub use noether_io as io;
pub use noether_lab as lab;
pub use noether_nn as nn;
pub use noether_spectra as spectra;
pub use noether_theory as theory;
pub use noether_train as train;
