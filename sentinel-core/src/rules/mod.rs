//! Rule-set plumbing shared by every rule kind: the [`Rule`] trait, validation errors, the
//! generic manager, and Go-compatible enums.

mod error;
pub(crate) mod go_enum;
pub mod range;
mod rule;
pub(crate) mod text_field;

pub use error::{FieldError, InvalidRule, RuleSetError};
pub use rule::{Rule, validate_set};
