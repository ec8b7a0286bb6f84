//! How rules in force are written out as a document.

/// How [`Pipeline::export_with`](crate::Pipeline::export_with) writes enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EnumStyle {
    /// By name, as people write them (`"controlBehavior": "Throttling"`); fields at their
    /// defaults are left out (default).
    #[default]
    Names,
    /// As sentinel-golang's integers (`"controlBehavior": 1`), for Go's tools; only the
    /// defaults that are Go's zero values are left out.
    Integers,
}

/// Options of [`Pipeline::export_with`](crate::Pipeline::export_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ExportOptions {
    /// How enums are written (default [`EnumStyle::Names`]).
    pub enums: EnumStyle,
}

impl ExportOptions {
    /// These options with enums written in `style`.
    #[must_use]
    pub fn enums(mut self, style: EnumStyle) -> Self {
        self.enums = style;
        self
    }
}
