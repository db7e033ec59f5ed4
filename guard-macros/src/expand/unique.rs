//! Unique types: released at a precise point. They may hold both kinds of parts, so the
//! only rule is that marked fields are resources, which the release calls themselves check.

use crate::ast::Input;
use proc_macro2::TokenStream;
use quote::quote;
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
