//! Unique types: released at a precise point. They may hold both kinds of parts, so the
//! only rule is that marked fields are resources, which the release calls themselves check.
//! A unique value dropped without being released is reported, by the `Drop` impl the
//! derive emits.

use crate::ast::{Data, Input};
use crate::expand::created;
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
/// usual, and leaf resources among them release themselves and report too), with its
/// creation site as `Resource::created` finds it, and the derive's site as where the type
/// is defined. The generated `release` takes the value apart without running it.
///
/// A `Drop` impl must have exactly the type's own bounds, so none of the inferred ones: a
/// generic field is asked through a probe that answers nothing where its type is not known
/// to be a resource.
pub(crate) fn drop_impl(input: &Input<'_>) -> TokenStream {
    let ident = input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let site = quote_spanned!(located_at(ident.span())=> ::core::panic::Location::caller());
    let this = created::this();
    let created = created::body(input);
    if let Data::Enum(variants) = &input.data
        && variants.is_empty()
    {
        // No value of the type exists.
        return quote! {
            #[automatically_derived]
            impl #impl_generics ::core::ops::Drop for #ident #ty_generics #where_clause {
                fn drop(&mut self) {
                    match *self {}
                }
            }
        };
    }
    quote! {
        #[automatically_derived]
        impl #impl_generics ::core::ops::Drop for #ident #ty_generics #where_clause {
            fn drop(&mut self) {
                let #this: &Self = self;
                __guard::dropped_unreleased(::core::any::type_name::<Self>(), #created, #site);
            }
        }
    }
}
