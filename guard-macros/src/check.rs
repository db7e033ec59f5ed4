//! Rules that need the whole model (the classification against the generics, the shape of
//! the type), one spanned message per rule. Rules that need types (is this field counted,
//! is it `Send`) are left to the compiler, through spanned assertions in the output.

use crate::ast::{Data, Input};
use crate::attr::Kind;
use crate::ctxt::Ctxt;
use syn::GenericParam;

/// Runs every rule, reporting each violation through `cx`.
pub(crate) fn check(cx: &Ctxt, input: &Input<'_>) {
    classification(cx, input);
    not_union(cx, input);
    counted_is_static(cx, input);
    one_site(cx, input);
}

/// At most one `#[resource(site)]` field per struct or variant: the value has one creation
/// site. Each extra one is reported.
fn one_site(cx: &Ctxt, input: &Input<'_>) {
    for (_, fields) in input.field_lists() {
        for extra in fields.iter().filter_map(|f| f.attrs.site).skip(1) {
            cx.error_at(
                extra,
                "only one field may be `#[resource(site)]`: a value has one creation site",
            );
        }
    }
}

/// A classification is required: the macro cannot guess when a resource may be released.
fn classification(cx: &Ctxt, input: &Input<'_>) {
    let attrs = &input.attrs;
    if attrs.kind.is_some() || attrs.conflicting || attrs.malformed {
        return;
    }
    let ident = input.ident;
    cx.error_spanned_by(
        ident,
        format!(
            "`{ident}` needs a classification: add `#[resource(unique)]` or `#[resource(counted)]` \
             below `#[derive(Resource)]`\n\
             - unique: released at a precise point, at the end of its `guard::scope` (a lock, a \
             writable file, a connection)\n\
             - counted: released later, on the finalizer thread, when its last `guard::Counted` \
             handle goes (a read-only fd, a listener)\n\
             if in doubt, use `#[resource(unique)]`: a unique type may hold both kinds"
        ),
    );
}

/// A union does not know which of its fields is live, so nothing can be released safely.
fn not_union(cx: &Ctxt, input: &Input<'_>) {
    if let Data::Union(span) = input.data {
        cx.error_at(
            span,
            "`#[derive(Resource)]` cannot release a union: it does not know which field holds the \
             resource; use an enum, or implement `guard::Resource` by hand",
        );
    }
}

/// A counted resource is released later, on another thread: it cannot borrow anything.
fn counted_is_static(cx: &Ctxt, input: &Input<'_>) {
    if !matches!(input.attrs.kind, Some((Kind::Counted, _))) {
        return;
    }
    let ident = input.ident;
    for param in &input.generics.params {
        if let GenericParam::Lifetime(def) = param {
            let lifetime = &def.lifetime;
            cx.error_spanned_by(
                lifetime,
                format!(
                    "a counted resource cannot borrow: `{ident}` may be released on the finalizer \
                     thread after `{lifetime}` has ended; hold owned data (`String`, `Arc<T>`, an \
                     `OwnedFd`) or mark the type `#[resource(unique)]`"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn errors_of(input: &syn::DeriveInput) -> Vec<String> {
        let cx = Ctxt::new();
        let model = Input::from_syn(&cx, input);
        check(&cx, &model);
        cx.check()
            .err()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_classified_struct_passes() {
        assert!(
            errors_of(&parse_quote!(
                #[resource(counted)]
                struct S {
                    #[resource]
                    fd: Fd,
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn missing_classification_explains_both_kinds_and_suggests_one() {
        let errors = errors_of(&parse_quote!(
            struct Journal {
                #[resource]
                file: File,
            }
        ));
        assert_eq!(errors.len(), 1);
        let lines: Vec<&str> = errors[0].lines().collect();
        assert!(
            lines[0].starts_with("`Journal` needs a classification"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("- unique: "), "{lines:?}");
        assert!(lines[2].starts_with("- counted: "), "{lines:?}");
        assert!(lines[3].contains("use `#[resource(unique)]`"), "{lines:?}");
    }

    #[test]
    fn a_counted_type_reports_each_lifetime() {
        let errors = errors_of(&parse_quote!(
            #[resource(counted)]
            struct S<'a, 'b> {
                a: &'a str,
                b: &'b str,
            }
        ));
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .iter()
                .all(|e| e.starts_with("a counted resource cannot borrow"))
        );
        assert!(
            errors_of(&parse_quote!(
                #[resource(unique)]
                struct S<'a> {
                    a: &'a str,
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn unions_are_rejected_with_their_other_mistakes() {
        let errors =
            errors_of(&parse_quote!(#[resource(unique)] union U { #[resource(x)] a: u32 }));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].contains("cannot release a union"), "{errors:?}");
    }
}
