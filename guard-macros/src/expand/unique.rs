//! Unique types: released at a precise point. They may hold both kinds of parts, so the
//! only rule is that marked fields are resources, which the release calls themselves check.
//! A unique value dropped without being released is reported, by the `Drop` impl the
//! derive emits.

use crate::ast::Input;
use crate::expand::hygiene::located_at;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::WhereClause;

/// `impl UniqueResource`, with the same bounds as the `Resource` impl.
pub(crate) fn marker(input: &Input<'_>, where_clause: &Option<WhereClause>) -> TokenStream {
    let ident = input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics __guard::UniqueResource for #ident #ty_generics #where_clause {}
    }
}

/// `impl Drop`: reports the value as dropped unreleased (its parts are then dropped as
/// usual, and leaf resources among them release themselves and report too). The generated
/// `release` takes the value apart without running it. The site reported is the derive's
/// (the type's declaration): a value built with a struct expression has no other.
///
/// A `Drop` impl must have exactly the type's own bounds, so none of the inferred ones.
pub(crate) fn drop_impl(input: &Input<'_>) -> TokenStream {
    let ident = input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let site = quote_spanned!(located_at(ident.span())=> ::core::panic::Location::caller());
    quote! {
        #[automatically_derived]
        impl #impl_generics ::core::ops::Drop for #ident #ty_generics #where_clause {
            fn drop(&mut self) {
                __guard::dropped_unreleased(::core::any::type_name::<Self>(), #site);
            }
        }
    }
}
