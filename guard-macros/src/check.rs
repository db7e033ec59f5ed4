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
