//! The report helpers live in `recforge_train::report` (so the Python package writes the same
//! pages); this re-export keeps `crate::report::…` paths of the other commands working.

pub use recforge_train::report::*;
