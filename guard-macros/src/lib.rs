//! Derive macros for [guard](https://docs.rs/guard): `#[derive(Resource)]` classifies a
//! struct or enum made of resources as unique or counted and generates its release.
//! Use it through the facade, as `guard::Resource`; see the derive's documentation.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;

/// Derives `guard::Resource` and one of the marker traits `guard::UniqueResource` or
/// `guard::CountedResource`.
#[proc_macro_derive(Resource, attributes(resource))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
