//! Behaviour tests of flow rules, driven by a manual clock.
