//! The body of the generated `release`: the drop check, the kind's assertions, the user's
//! hook, then every marked field in reverse declaration order, each through the facade's
//! `Release`, which catches panics and collects errors with the field's name.

use crate::ast::{Data, Field, Input};
use crate::attr::{Hook, Kind, path_text};
use crate::expand::counted;
use crate::expand::hygiene::located_at;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

/// The statements of `fn release(self)`.
pub(crate) fn body(input: &Input<'_>, kind: Kind) -> TokenStream {
    let drop_check = drop_check(input.ident);
    let assertions = match kind {
        Kind::Counted => counted::assertions(input),
        Kind::Unique => TokenStream::new(),
    };
    let release = release_ident();
    let parts = match &input.data {
        Data::Enum(variants) if variants.is_empty() => {
            return quote! { #drop_check match self {} };
        }
        Data::Struct(fields) => match destructure(quote!(Self), fields, None, kind) {
            Some((pattern, calls)) => quote! { let #pattern = self; #calls },
            None => TokenStream::new(),
        },
        Data::Enum(variants) => {
            let arms: Vec<TokenStream> = variants
                .iter()
                .map(|v| {
                    let ident = v.ident;
                    match destructure(quote!(Self::#ident), &v.fields, Some(ident), kind) {
                        Some((pattern, calls)) => quote! { #pattern => { #calls } },
                        None => quote! { Self::#ident { .. } => {} },
                    }
                })
                .collect();
            if input.all_fields().any(Field::is_resource) {
                quote! { match self { #(#arms)* } }
            } else {
                TokenStream::new()
            }
        }
        Data::Union(_) => unreachable!("check rejects unions"),
    };
    let hook = input.attrs.release.as_ref().map(hook);
    let kind = match kind {
        Kind::Unique => quote!(__guard::Kind::Unique),
        Kind::Counted => quote!(__guard::Kind::Counted),
    };
    let release_mut = if hook.is_some() || input.all_fields().any(Field::is_resource) {
        quote!(mut)
    } else {
        TokenStream::new()
    };
    quote! {
        #drop_check
        #assertions
        let #release_mut #release = __guard::Release::new(::core::any::type_name::<Self>(), #kind);
        #hook
        #parts
        #release.finish()
    }
}

/// The local that collects the outcome of every part.
fn release_ident() -> Ident {
    Ident::new("__release", Span::mixed_site())
}

/// A pattern binding the marked fields of `path` (a struct or a variant) and the calls that
/// release them, last declared first. `None` if no field is marked.
fn destructure(
    path: TokenStream,
    fields: &[Field<'_>],
    variant: Option<&Ident>,
    kind: Kind,
) -> Option<(TokenStream, TokenStream)> {
    let marked: Vec<(usize, &Field<'_>)> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_resource())
        .collect();
    if marked.is_empty() {
        return None;
    }
    let binding = |i: usize| format_ident!("__field{}", i, span = Span::mixed_site());
    let bindings = marked.iter().map(|&(i, field)| {
        let member = &field.member;
        let binding = binding(i);
        quote!(#member: #binding)
    });
    let release = release_ident();
    let calls = marked.iter().rev().map(|&(i, field)| {
        let ty = field.ty;
        let name = field.display_name(variant);
        let binding = binding(i);
        let function = match kind {
            Kind::Unique => quote_spanned!(located_at(field.span())=> __guard::Release::field),
            Kind::Counted => {
                quote_spanned!(located_at(field.span())=> __guard::Release::counted_field)
            }
        };
        quote! { #function::<#ty>(&mut #release, #name, #binding); }
    });
    Some((quote!(#path { #(#bindings,)* .. }), quote!(#(#calls)*)))
}

/// Runs the user's hook first, with the whole value. The hook is coerced to
/// `fn(&mut Self) -> Result<(), _>` first, so a wrong signature is a type mismatch at the
/// user's path that shows both signatures (the expected one at the `release` key).
fn hook(hook: &Hook) -> TokenStream {
    let path = &hook.path;
    let at_path = located_at(path.span());
    let name = path_text(&path.path);
    let release = release_ident();
    let local = Ident::new("__hook", at_path);
    let expected =
        quote_spanned!(located_at(hook.key)=> fn(&mut Self) -> ::core::result::Result<(), _>);
    let call = quote_spanned!(at_path=> __guard::Release::hook);
    quote! {
        let #local: #expected = #path;
        #call(&mut #release, #name, #local, &mut self);
    }
}

/// A type whose release is generated must not implement `Drop` (its release is its
/// destructor, and `release` moves its fields out). When `Self: Drop`, the probe's inherent
/// method applies and demands a trait nobody implements, whose message says what to do.
fn drop_check(ident: &Ident) -> TokenStream {
    let probe = quote_spanned!(located_at(ident.span())=> __guard::DropProbe::<Self>::new().assert_no_drop());
    quote! {
        {
            #[allow(unused_imports)]
            use __guard::NotDrop as _;
            #probe;
        }
    }
}
