//! Enums whose values have stable codes: the names rows and documents hold, so a renamed
//! variant never changes what is stored. `coded!` defines one with `code`, `from_code`,
//! `ALL`, `Display` and serde as its codes.

/// Defines a coded enum: `coded! { pub enum Kind { A = "a", B = "b" } }`.
#[macro_export]
macro_rules! coded {
    ($(#[$meta:meta])* pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal ),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $code)] $variant ),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$( $name::$variant ),+];

            pub fn code(self) -> &'static str {
                match self { $( $name::$variant => $code ),+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $( $code => Some($name::$variant), )+ _ => None }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

#[cfg(test)]
// The macro makes public enums, as services want them; inside a test module they reach
// nowhere.
#[allow(unreachable_pub)]
mod tests {
    crate::coded! {
        /// A test enum.
        pub enum Colour {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn codes_round_trip_through_text_and_serde() {
        for colour in Colour::ALL {
            assert_eq!(Colour::from_code(colour.code()), Some(*colour));
            let json = serde_json::to_string(colour).unwrap();
            assert_eq!(json, format!("\"{colour}\""));
        }
        assert_eq!(Colour::from_code("green"), None);
    }
}
