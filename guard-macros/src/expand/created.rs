//! `Resource::created` for a derived type, and the same answer in a unique type's `Drop`:
//! the `#[resource(site)]` field if there is one, else the first `#[resource]` field (in
//! declaration order) whose value knows its creation site, with the field's path.
//!
//! Fields are looked at by reference, through probes (`CreatedProbe`, `Look`) that answer
//! "nothing" where the type is not known to be a resource or a container (a generic field
//! in `Drop`, which may not add bounds; a mistake the release already reports), so this
//! code never adds an error of its own, except for a `#[resource(site)]` field of the
//! wrong type (at the field).

use crate::ast::{Data, Field, Input, Shape};
use crate::expand::hygiene::located_at;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Type;

/// The local the answer is computed from: `&Self`.
pub(crate) fn this() -> Ident {
    Ident::new("__this", Span::mixed_site())
}

/// An expression of type `Option<Created>` reading the value through [`this`].
pub(crate) fn body(input: &Input<'_>) -> TokenStream {
    let this = this();
    let answer = match &input.data {
        Data::Struct(fields) => {
            let access = |field: &Field<'_>| {
                let member = &field.member;
                // Located at the field's type: a site field of the wrong type is an error there.
                let at = located_at(field.span());
                let mut this = this.clone();
                this.set_span(at);
                if input.packed {
                    // A packed field cannot be borrowed: the site is copied out (it is a
                    // reference), and parts are not looked at.
                    quote_spanned!(at=> &{ #this.#member })
                } else {
                    quote_spanned!(at=> &#this.#member)
                }
            };
            of_fields(fields, None, input.packed, &access)
        }
        Data::Enum(variants) if variants.is_empty() => quote!(match *#this {}),
        Data::Enum(variants) => {
            let arms = variants.iter().map(|v| {
                let ident = v.ident;
                let used = v.fields.iter().enumerate().filter(|(_, f)| used(f));
                let bindings = used.map(|(i, field)| {
                    let member = &field.member;
                    let binding = binding(i);
                    quote!(#member: #binding)
                });
                let access = |field: &Field<'_>| {
                    let i = v
                        .fields
                        .iter()
                        .position(|f| std::ptr::eq(f, field))
                        .unwrap_or_default();
                    let mut binding = binding(i);
                    binding.set_span(located_at(field.span()));
                    quote!(#binding)
                };
                let answer = of_fields(&v.fields, Some(ident), false, &access);
                quote! { Self::#ident { #(#bindings,)* .. } => #answer, }
            });
            quote!(match #this { #(#arms)* })
        }
        Data::Union(_) => quote!(::core::option::Option::None),
    };
    quote! {
        {
            #[allow(unused_imports)]
            use __guard::{LookElse as _, NoCreated as _};
            #answer
        }
    }
}

fn used(field: &Field<'_>) -> bool {
    field.is_site() || field.is_resource()
}

/// The local bound to field `i` of a variant.
fn binding(i: usize) -> Ident {
    format_ident!("__site_field{}", i, span = Span::mixed_site())
}

/// The answer from one struct's or variant's fields; `access` gives a reference to a field.
fn of_fields(
    fields: &[Field<'_>],
    variant: Option<&Ident>,
    packed: bool,
    access: &dyn Fn(&Field<'_>) -> TokenStream,
) -> TokenStream {
    if let Some(field) = fields.iter().find(|f| f.is_site()) {
        let value = access(field);
        let call = quote_spanned!(located_at(field.span())=> __guard::site_field);
        return quote!(::core::option::Option::Some(#call(#value)));
    }
    if packed {
        return quote!(::core::option::Option::None);
    }
    let parts = fields.iter().filter(|f| f.is_resource()).map(|field| {
        let name = field.display_name(variant);
        let found = look(field.ty, &field.shape(), access(field), 0);
        quote! {
            .or_else(|| #found.map(|__c| __guard::Created::in_field(__c, #name)))
        }
    });
    quote!(::core::option::Option::None #(#parts)*)
}

/// An expression of type `Option<Created>`: what `value` (a `&ty`, shaped `shape`) knows.
fn look(ty: &Type, shape: &Shape<'_>, value: TokenStream, depth: usize) -> TokenStream {
    let part = format_ident!("__site_part{}", depth, span = Span::mixed_site());
    let index = format_ident!("__site_index{}", depth, span = Span::mixed_site());
    match shape {
        Shape::Leaf(leaf) => quote!(__guard::CreatedProbe::<#leaf>::new(#value).created()),
        Shape::Option(inner, shape) | Shape::Box(inner, shape) => {
            let found = look(inner, shape, quote!(#part), depth + 1);
            quote! {
                match __guard::Look::<#ty, #inner>::new(#value).one() {
                    ::core::option::Option::Some(#part) => #found,
                    ::core::option::Option::None => ::core::option::Option::None,
                }
            }
        }
        Shape::Vec(inner, shape) | Shape::Array(inner, shape) | Shape::BoxedSlice(inner, shape) => {
            let found = look(inner, shape, quote!(#part), depth + 1);
            quote! {
                __guard::Look::<#ty, #inner>::new(#value)
                    .many()
                    .iter()
                    .enumerate()
                    .find_map(|(#index, #part)| {
                        #found.map(|__c| __guard::Created::in_element(__c, #index))
                    })
            }
        }
    }
}
