//! Enums that read like sentinel-golang's: Go writes them as integers
//! (`"controlBehavior": 1`), people write them as names (`"Throttling"`). Both are accepted;
//! serialisation writes Go's integer so that a document we write loads in Go too.

/// Declares a rule enum with Go's integer values and accepted names.
///
/// Each variant lists its integer, any extra integers that mean the same, and its names
/// (matched ignoring ASCII case; the first name is the one shown by `Display`).
macro_rules! go_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $int:literal $(| $alt:literal)* => [$($label:literal),+]
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The integer sentinel-golang uses for this value.
            pub fn go_value(self) -> i64 {
                match self { $($name::$variant => $int),+ }
            }

            /// The canonical name (as written in YAML and Kubernetes resources).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => go_enum!(@first $($label),+)),+ }
            }

            /// The value for one of Go's integers.
            pub fn from_go_value(v: i64) -> Option<Self> {
                match v {
                    $($int $(| $alt)* => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The value for a name, ignoring ASCII case.
            pub fn from_name(s: &str) -> Option<Self> {
                $(
                    if [$($label),+].iter().any(|l: &&str| l.eq_ignore_ascii_case(s.trim())) {
                        return Some($name::$variant);
                    }
                )+
                None
            }

            fn expected() -> String {
                let parts: Vec<String> = Self::ALL
                    .iter()
                    .map(|v| format!("{} ({})", v.go_value(), v.name()))
                    .collect();
                parts.join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                if let Ok(v) = s.trim().parse::<i64>() {
                    return Self::from_go_value(v).ok_or_else(|| {
                        format!("unknown {} {v}; expected one of {}", stringify!($name), Self::expected())
                    });
                }
                Self::from_name(s).ok_or_else(|| {
                    format!("unknown {} {s:?}; expected one of {}", stringify!($name), Self::expected())
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.go_value())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "{} as one of {}", stringify!($name), $name::expected())
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$name, E> {
                        $name::from_go_value(v).ok_or_else(|| {
                            E::custom(format!("unknown {} {v}; expected one of {}", stringify!($name), $name::expected()))
                        })
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$name, E> {
                        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
    (@first $first:literal $(, $rest:literal)*) => { $first };
}

pub(crate) use go_enum;

#[cfg(test)]
mod tests {
    #![allow(unreachable_pub)]
    go_enum! {
        /// A test enum.
        pub enum Colour {
            #[default]
            Red = 0 | -1 => ["Red", "Rot"],
            Blue = 1 => ["Blue"],
        }
    }

    #[test]
    fn accepts_integers_names_and_aliases() {
        let v: Vec<Colour> = serde_json::from_str(r#"[0, -1, 1, "blue", "ROT", "1"]"#).unwrap();
        assert_eq!(
            v,
            [
                Colour::Red,
                Colour::Red,
                Colour::Blue,
                Colour::Blue,
                Colour::Red,
                Colour::Blue
            ]
        );
        assert_eq!(serde_json::to_string(&Colour::Blue).unwrap(), "1");
        assert_eq!(Colour::Blue.to_string(), "Blue");
    }

    #[test]
    fn unknown_values_say_what_is_expected() {
        let e = serde_json::from_str::<Colour>("7").unwrap_err().to_string();
        assert!(e.contains("unknown Colour 7"), "{e}");
        assert!(e.contains("0 (Red), 1 (Blue)"), "{e}");
        let e = serde_json::from_str::<Colour>("\"Green\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"Green\""), "{e}");
    }
}
