//! What is emitted next to the errors when the input is invalid (thiserror's fallback):
//! the same impls with a body that is never run, so that code using the type still
//! type-checks and the user sees the real mistakes, not a cascade of "not a resource".

use crate::ast::Input;
use crate::attr::Kind;
use crate::expand::{send_bound, wrap};
use proc_macro2::TokenStream;
use quote::quote;

/// Stub impls of `Resource` and of the marker traits. With no valid classification, both
/// markers are emitted (the counted one only applies where the type is `Send + 'static`,
/// except in a type that holds itself: see [`send_bound`]).
///
/// Nothing is emitted after a malformed `crate = ...`: where the facade is is unknown, and
/// guessing `::guard` would add an unresolved import wherever the dependency is renamed.
pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    if input.attrs.krate_malformed {
        return TokenStream::new();
    }
    let ident = input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let kind = input.attrs.kind.map(|(kind, _)| kind);
    let unique = (kind != Some(Kind::Counted)).then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics __guard::UniqueResource for #ident #ty_generics #where_clause {}
        }
    });
    let counted = (kind != Some(Kind::Unique)).then(|| {
        let mut clause = where_clause
            .cloned()
            .unwrap_or_else(|| syn::parse_quote!(where));
        clause.predicates.extend(send_bound(input));
        quote! {
            #[automatically_derived]
            impl #impl_generics __guard::CountedResource for #ident #ty_generics #clause {}
        }
    });
    let items = quote! {
        #[automatically_derived]
        impl #impl_generics __guard::Resource for #ident #ty_generics #where_clause {
            type Error = __guard::ReleaseErrors;

            fn release(self) -> ::core::result::Result<(), __guard::ReleaseErrors> {
                ::core::unreachable!("`#[derive(Resource)]` failed to expand")
            }
        }

        #unique
        #counted
    };
    wrap(input.attrs.krate.as_ref(), items)
}
