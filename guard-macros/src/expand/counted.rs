//! Counted types: released later, on the finalizer thread. Every marked field must itself be
//! counted (checked by its release call) and every plain field `Send + 'static` (checked by
//! an assertion); both are spanned at the field's type, so the error points at the field.

use crate::ast::Input;
use crate::expand::release::located_at;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::WhereClause;

/// One `Send + 'static` assertion per plain field, spanned at its type.
pub(crate) fn assertions(input: &Input<'_>) -> TokenStream {
    input
        .all_fields()
        .filter(|field| !field.is_resource())
        .map(|field| {
            let ty = field.ty;
            quote_spanned!(located_at(field.span())=> __guard::assert_send_part::<#ty>();)
        })
        .collect()
}

/// `impl CountedResource`. Besides the `Resource` impl's bounds, it requires
/// `Self: Send + 'static` under a `for<'__guard>` binder: the compiler then does not check the
/// bound where the impl is declared (where it would repeat, at the derive, what the field
/// assertions already said at the field), only where a handle is created.
pub(crate) fn marker(input: &Input<'_>, where_clause: &Option<WhereClause>) -> TokenStream {
    let ident = input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let mut where_clause = where_clause
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(where));
    where_clause
        .predicates
        .push(syn::parse_quote!(for<'__guard> Self: ::core::marker::Send + 'static));
    quote! {
        #[automatically_derived]
        impl #impl_generics __guard::CountedResource for #ident #ty_generics #where_clause {}
    }
}
