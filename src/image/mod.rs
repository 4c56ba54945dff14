//! Image references: repository names, tags and digests, validated against the
//! OCI distribution grammar.
//!
//! Every value that ferry writes into YAML passes through one of the validated
//! newtypes here ([`ImageName`], [`Tag`], [`Digest`]); there is no way to build
//! one from a string that fails the grammar, so an invalid reference can never
//! reach a file.

mod reference;
mod setspec;

pub use reference::{Digest, ImageName, ImageRef, RefError, Tag};
pub use setspec::{FieldChange, ImageUpdate, SpecError};
