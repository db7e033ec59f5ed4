//! The whole output for one item: the `Resource` impl and its marker impl, inside an
//! anonymous `const` that imports the facade's `__private` module once.

use crate::ast::Input;
use crate::attr::Kind;
use crate::ctxt::Ctxt;
use crate::expand::hygiene::wrap;
use crate::expand::{bounds, counted, created, release, unique};
use crate::{check, fallback};
use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

/// Expands `#[derive(Resource)]`. On invalid input, returns every error found together with
/// stub impls ([`fallback`]), so that the user sees the real mistakes and no cascade.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let model = Input::from_syn(&cx, input);
    check::check(&cx, &model);
    match cx.check() {
        Ok(()) => expand(&model),
        Err(errors) => {
            let mut out = errors.into_compile_error();
            out.extend(fallback::expand(&model));
            out
        }
    }
}

fn expand(input: &Input<'_>) -> TokenStream {
    let Some((kind, _)) = input.attrs.kind else {
        // `check` reports a missing classification, so this is not reached; stay total.
        return fallback::expand(input);
    };
    let ident = input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let where_clause = bounds::where_clause(input, kind);
    let receiver = if input.attrs.release.is_some() {
        quote!(mut self)
    } else {
        quote!(self)
    };
    let body = release::body(input, kind);
    let this = created::this();
    let created = created::body(input);
    let marker = match kind {
        Kind::Unique => {
            let mut marker = unique::marker(input, &where_clause);
            marker.extend(unique::drop_impl(input));
            marker
        }
        Kind::Counted => counted::marker(input, &where_clause),
    };
    let items = quote! {
        #[automatically_derived]
        impl #impl_generics __guard::Resource for #ident #ty_generics #where_clause {
            type Error = __guard::ReleaseErrors;

            fn release(#receiver) -> ::core::result::Result<(), __guard::ReleaseErrors> {
                #body
            }

            fn created(&self) -> ::core::option::Option<__guard::Created> {
                let #this: &Self = self;
                #created
            }
        }

        #marker
    };
    wrap(input.attrs.krate.as_ref(), items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn expand(input: &DeriveInput) -> String {
        let out = derive(input);
        syn::parse2::<syn::File>(out.clone()).expect("the output parses as items");
        out.to_string()
    }

    #[test]
    fn fields_are_released_last_declared_first() {
        let out = expand(&parse_quote! {
            #[resource(unique)]
            struct S { #[resource] a: A, b: u8, #[resource] c: C }
        });
        let c = out.find("\"c\"").unwrap();
        let a = out.find("\"a\"").unwrap();
        assert!(c < a, "{out}");
        assert!(out.contains("UniqueResource"), "{out}");
        assert!(
            !out.contains("\"b\""),
            "plain fields are only dropped: {out}"
        );
    }

    #[test]
    fn a_type_with_nothing_to_release_part_by_part_skips_the_collector() {
        for input in [
            parse_quote!(
                #[resource(unique)]
                struct Held<'a> {
                    count: Guard<'a>,
                }
            ),
            parse_quote!(
                #[resource(counted)]
                struct Id(u64);
            ),
        ] {
            let out = expand(&input);
            assert!(!out.contains("Release :: new"), "{out}");
        }
        let out = expand(&parse_quote!(
            #[resource(unique, release = Self::flush)]
            struct Journal {
                pending: Vec<u8>,
            }
        ));
        assert!(
            out.contains("Release :: new"),
            "the hook's outcome is collected: {out}"
        );
    }

    #[test]
    fn only_a_unique_type_gets_the_reporting_drop() {
        let unique = expand(&parse_quote!(
            #[resource(unique)]
            struct S {
                a: u8,
            }
        ));
        assert!(unique.contains(":: core :: ops :: Drop for S"), "{unique}");
        assert!(unique.contains("dropped_unreleased"), "{unique}");
        let counted = expand(&parse_quote!(
            #[resource(counted)]
            struct S {
                a: u8,
            }
        ));
        assert!(!counted.contains("Drop for"), "{counted}");
    }

    #[test]
    fn invalid_input_gets_errors_and_both_stub_markers() {
        let out = expand(&parse_quote!(
            struct S {
                #[resource]
                a: A,
            }
        ));
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            out.contains("UniqueResource") && out.contains("CountedResource"),
            "{out}"
        );
        assert!(out.contains("unreachable"), "{out}");
    }

    #[test]
    fn a_malformed_crate_path_gets_the_error_and_no_stubs() {
        let out = expand(&parse_quote!(
            #[resource(unique, crate = "my guard")]
            struct S;
        ));
        assert!(out.contains("compile_error"), "{out}");
        assert!(!out.contains("impl"), "{out}");
        assert!(!out.contains(":: guard"), "{out}");
    }

    #[test]
    fn a_counted_type_holding_itself_gets_no_send_bound() {
        let send_bound = "for < '__guard > Self";
        let plain = expand(&parse_quote!(
            #[resource(counted)]
            struct Dir {
                #[resource]
                fd: Fd,
                parent: Option<Counted<File>>,
            }
        ));
        assert!(plain.contains(send_bound), "{plain}");
        for input in [
            parse_quote!(
                #[resource(counted)]
                struct Dir {
                    #[resource]
                    fd: Fd,
                    parent: Option<Counted<Dir>>,
                }
            ),
            parse_quote!(
                #[resource(counted)]
                enum Node {
                    Leaf(#[resource] Fd),
                    Branch(Vec<Counted<Self>>),
                }
            ),
            // the fallback too: it has the same impl
            parse_quote!(
                #[resource(counted, release = x())]
                struct Dir {
                    parent: Option<Counted<Dir>>,
                }
            ),
        ] {
            let out = expand(&input);
            assert!(out.contains("CountedResource"), "{out}");
            assert!(!out.contains(send_bound), "{out}");
        }
    }

    #[test]
    fn a_generic_field_holding_its_own_type_gets_no_inferred_bound() {
        let out = expand(&parse_quote!(
            #[resource(counted)]
            struct Dir<T> {
                #[resource]
                fd: Fd,
                meta: T,
                parent: Option<Counted<Dir<T>>>,
            }
        ));
        assert!(out.contains("T : :: core :: marker :: Send"), "{out}");
        assert!(!out.contains("Option < Counted < Dir < T > > > :"), "{out}");
    }

    #[test]
    fn crate_path_is_imported_once() {
        let out = expand(&parse_quote!(
            #[resource(counted, crate = my_guard)]
            struct S;
        ));
        assert_eq!(out.matches("my_guard").count(), 1, "{out}");
        assert!(!out.contains(":: guard"), "{out}");
    }
}
