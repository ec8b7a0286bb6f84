//! Rule-set plumbing shared by every rule kind: validation errors, the generic manager,
//! and Go-compatible enums.

mod error;
pub(crate) mod go_enum;
pub(crate) mod set;

pub use error::{FieldError, InvalidRule, RuleSetError};
