//! The records Adam keeps and the requests that create or change them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{DealershipId, UserId};
use crate::password::Password;
use crate::placement::Placement;
use crate::role::Role;

/// A person's or a dealership's display name: trimmed, 1 to 200 characters, at least one letter
/// or digit, and nothing that hides or disguises text (see [`Name::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Name(String);

/// Characters of the letter category that show nothing: the Hangul fillers.
const FILLERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];

impl Name {
    /// Longest accepted name, in characters.
    pub const MAX_LEN: usize = 200;

    /// Parses `raw`, naming `field` in the error. A name holds at least one letter or digit and
    /// no control, format (except U+200C and U+200D between two letters or marks, which Persian
    /// and Indic names need), line or paragraph separator, private-use, unassigned or filler
    /// character; so it is never made of combining marks alone.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(Error::invalid(field, "must be at most 200 characters long"));
        }
        let chars: Vec<char> = s.chars().collect();
        let joins_letters = |i: usize| {
            let letter_or_mark = |c: Option<&char>| {
                c.is_some_and(|c| {
                    !FILLERS.contains(c)
                        && matches!(
                            c.general_category_group(),
                            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Mark
                        )
                })
            };
            i > 0 && letter_or_mark(chars.get(i - 1)) && letter_or_mark(chars.get(i + 1))
        };
        for (i, &c) in chars.iter().enumerate() {
            let hidden = match c.general_category() {
                GeneralCategory::Format => {
                    !(matches!(c, '\u{200C}' | '\u{200D}') && joins_letters(i))
                }
                GeneralCategory::Control
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
                | GeneralCategory::PrivateUse
                | GeneralCategory::Unassigned => true,
                _ => FILLERS.contains(&c),
            };
            if hidden {
                return Err(Error::invalid(
                    field,
                    "must not contain control, invisible, private-use or unassigned characters",
                ));
            }
        }
        let shows_something = chars.iter().any(|c| {
            matches!(
                c.general_category_group(),
                GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
            ) && !FILLERS.contains(c)
        });
        if !shows_something {
            return Err(Error::invalid(
                field,
                "must hold at least one letter or digit",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Unicode format characters (general category Cf, Unicode 15), as inclusive ranges:
/// invisible marks such as zero-width spaces and the bidirectional overrides that make a name
/// display as something it is not.
pub const FORMAT_CHARS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A user as everyone but the storage layer sees it: never a password or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Normalised, unique email.
    pub email: Email,
    /// Display name.
    pub full_name: String,
    /// Role and dealership, together.
    pub placement: Placement,
    /// Inactive users cannot sign in and their tokens stop working.
    pub is_active: bool,
    /// Whether the user signs in with a second factor (TOTP is on).
    pub mfa_enabled: bool,
    /// The user's latest completed sign-in; `None` until the first.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user was last changed.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// The user's role.
    pub fn role(&self) -> Role {
        self.placement.role()
    }

    /// The user's dealership; `None` exactly for a system admin.
    pub fn dealership_id(&self) -> Option<DealershipId> {
        self.placement.dealership_id()
    }
}

/// A dealership: the tenant every non-admin user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dealership {
    /// Identifier.
    pub id: DealershipId,
    /// Display name, unique regardless of case.
    pub name: String,
    /// Users of an inactive dealership cannot sign in or refresh.
    pub is_active: bool,
    /// Whether its users must sign in with a second factor.
    pub mfa_required: bool,
    /// When the dealership was created.
    pub created_at: DateTime<Utc>,
    /// When the dealership was last changed.
    pub updated_at: DateTime<Utc>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u32,
    /// How many matching items were skipped.
    pub offset: u64,
}

/// Which page of a list to return. Built with [`PageRequest::new`], which checks the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    offset: u64,
}

impl PageRequest {
    /// Page size when none is given.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 100;
    /// Largest offset.
    pub const MAX_OFFSET: u32 = i32::MAX as u32;

    /// A page of `limit` items (default 50, at most 100) after skipping `offset`.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Self> {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(l) if (1..=i64::from(Self::MAX_LIMIT)).contains(&l) => l as u32,
            Some(_) => return Err(Error::invalid("limit", "must be between 1 and 100")),
        };
        let offset = match offset {
            None => 0,
            Some(o) if (0..=i64::from(Self::MAX_OFFSET)).contains(&o) => o as u64,
            Some(_) => return Err(Error::invalid("offset", "must be between 0 and 2147483647")),
        };
        Ok(Self { limit, offset })
    }

    /// The page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The number of items skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// Filters for listing users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Only users of this role.
    pub role: Option<Role>,
    /// Only users whose email or name contains this text, ignoring case (at most
    /// [`UserFilter::MAX_Q_LEN`] characters, no NUL).
    pub q: Option<String>,
}

impl UserFilter {
    /// Longest search text, in characters.
    pub const MAX_Q_LEN: usize = 200;

    /// Refuses a search text that is too long or holds a NUL character ([`Error::Invalid`]
    /// naming `q`).
    pub fn check(&self) -> Result<()> {
        if let Some(q) = &self.q {
            if q.chars().count() > Self::MAX_Q_LEN {
                return Err(Error::invalid("q", "must be at most 200 characters long"));
            }
            if q.contains('\0') {
                return Err(Error::invalid("q", "must not contain NUL characters"));
            }
        }
        Ok(())
    }
}

/// A request to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The email.
    pub email: Email,
    /// The initial password, already checked against the policy.
    pub password: Password,
    /// Display name.
    pub full_name: Name,
    /// The role to give.
    pub role: Role,
    /// The dealership; a dealer principal may omit it to mean their own.
    pub dealership_id: Option<DealershipId>,
    /// Whether the user must choose a new password at their first sign-in (the one given here
    /// was chosen by someone else).
    pub must_change_password: bool,
}

/// A partial update of a user: `None` leaves a field as it is. Its `Debug` never shows
/// `current_password`.
#[derive(Clone, Default)]
pub struct UserPatch {
    /// New email.
    pub email: Option<Email>,
    /// New display name.
    pub full_name: Option<Name>,
    /// New password, already checked against the policy.
    pub password: Option<Password>,
    /// The caller's current password; required when changing one's own password.
    pub current_password: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Move to a dealership (`Some(None)`: no dealership, for a system admin).
    pub dealership_id: Option<Option<DealershipId>>,
    /// With a `password` set for someone else: whether they must choose a new one at their next
    /// sign-in (`None` is `false`). Refused without such a `password`.
    pub must_change_password: Option<bool>,
}

impl std::fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field("password", &self.password)
            .field(
                "current_password",
                &self.current_password.as_ref().map(|_| "<redacted>"),
            )
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .field("dealership_id", &self.dealership_id)
            .field("must_change_password", &self.must_change_password)
            .finish()
    }
}

/// A request to create a dealership.
#[derive(Debug, Clone)]
pub struct NewDealership {
    /// Display name.
    pub name: Name,
}

/// A partial update of a dealership.
#[derive(Debug, Clone, Default)]
pub struct DealershipPatch {
    /// New name.
    pub name: Option<Name>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Require a second factor of its users, or stop requiring it.
    pub mfa_required: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_format_characters_are_the_ones_names_refuse() {
        // The document's pattern lists FORMAT_CHARS; the name rule refuses the format category.
        for &(lo, hi) in FORMAT_CHARS {
            for c in (lo..=hi).filter_map(char::from_u32) {
                assert_eq!(
                    c.general_category(),
                    GeneralCategory::Format,
                    "U+{:04X}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn names_show_something_and_hide_nothing() {
        let refused = [
            "\u{3164}",                 // Hangul filler only
            "\u{3164}\u{3164}\u{115F}", // fillers only
            "Ann\u{3164}",              // a filler anywhere
            "Ann\u{2028}Lee",           // line separator
            "Ann\u{2029}Lee",           // paragraph separator
            "Ann\u{E000}",              // private use
            "\u{F0000}Ann",             // private use, plane 15
            "\u{0301}\u{0302}",         // combining marks only
            "\u{0903}",                 // a spacing mark only
            "Ann\u{0378}",              // unassigned
            "\u{200D}Ann",              // a joiner not between two letters
            "Ann\u{200C} Lee",          // a non-joiner before a space
            "Ann\u{200B}Lee",           // zero-width space
            "Ann\u{202E}Lee",           // right-to-left override
            "Ann\u{0007}",              // control
            "---",                      // no letter or digit
        ];
        for raw in refused {
            assert!(
                Name::parse("full_name", raw).is_err(),
                "{raw:?} was accepted"
            );
        }
        let accepted = [
            "Ann Lee",
            "José Ñúñez",
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}", // Persian, a ZWNJ between letters
            "\u{0915}\u{094D}\u{200D}\u{0937}", // Devanagari, a ZWJ after a virama
            "7 Avenue Motors",
            "\u{5F20}\u{4F1F}",
        ];
        for raw in accepted {
            assert!(Name::parse("full_name", raw).is_ok(), "{raw:?} was refused");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("full_name", "  Ada Lovelace ")
                .unwrap()
                .as_str(),
            "Ada Lovelace"
        );
        assert!(Name::parse("full_name", "   ").is_err());
        assert!(Name::parse("full_name", "a\u{0}b").is_err());
        // Bidirectional overrides, zero-width and other invisible format characters.
        for sneaky in [
            "\u{202e}nimda",
            "ad\u{200b}min",
            "\u{2066}x",
            "x\u{feff}",
            "\u{e0041}",
        ] {
            assert!(Name::parse("full_name", sneaky).is_err(), "{sneaky:?}");
        }
        assert!(Name::parse("full_name", "Zoë Ñandú-O'Brien 李").is_ok());
        assert!(Name::parse("name", &"x".repeat(201)).is_err());
        assert!(Name::parse("name", &"x".repeat(200)).is_ok());
    }

    #[test]
    fn page_bounds_are_checked() {
        assert_eq!(
            PageRequest::new(None, None).unwrap(),
            PageRequest::default()
        );
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(101), None).is_err());
        assert!(PageRequest::new(Some(i64::MAX), None).is_err());
        assert!(PageRequest::new(None, Some(-1)).is_err());
        assert_eq!(PageRequest::new(Some(100), Some(5)).unwrap().offset(), 5);
    }
}
