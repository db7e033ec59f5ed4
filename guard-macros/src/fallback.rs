//! What is emitted next to the errors when the input is invalid (thiserror's fallback):
//! the same impls with a body that is never run, so that code using the type still
//! type-checks and the user sees the real mistakes, not a cascade of "not a resource".

use crate::ast::Input;
use crate::attr::Kind;
use crate::expand::wrap;
use proc_macro2::TokenStream;
use quote::quote;

/// Stub impls of `Resource` and of the marker traits. With no valid classification, both
/// markers are emitted (the counted one only applies where the type is `Send + 'static`).
pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
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
        clause
            .predicates
            .push(syn::parse_quote!(for<'__guard> Self: ::core::marker::Send + 'static));
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
