//! Generated from the `k_*` rules of `accord.pest`: keyword tokens carry no data, so
//! the lowering skips them. Regenerate when a keyword is added to the grammar.

use crate::grammar::Rule;

pub(crate) fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::k_absent
            | Rule::k_accept
            | Rule::k_ack
            | Rule::k_after
            | Rule::k_alert
            | Rule::k_at
            | Rule::k_backlog
            | Rule::k_quiet
            | Rule::k_backoff
            | Rule::k_before
            | Rule::k_by
            | Rule::k_check
            | Rule::k_codemap
            | Rule::k_codeset
            | Rule::k_conflict
            | Rule::k_correlate
            | Rule::k_delivered
            | Rule::k_endpoint
            | Rule::k_env
            | Rule::k_environment
            | Rule::k_estate
            | Rule::k_every
            | Rule::k_expect
            | Rule::k_fhir
            | Rule::k_file
            | Rule::k_flow
            | Rule::k_for
            | Rule::k_forever
            | Rule::k_from
            | Rule::k_given
            | Rule::k_hl7
            | Rule::k_hl7v2
            | Rule::k_idempotency
            | Rule::k_import
            | Rule::k_in
            | Rule::k_cancel
            | Rule::k_early
            | Rule::k_into
            | Rule::k_hold
            | Rule::k_follow
            | Rule::k_merge
            | Rule::k_interface
            | Rule::k_len
            | Rule::k_length
            | Rule::k_key
            | Rule::k_unique
            | Rule::k_lock
            | Rule::k_mapping
            | Rule::k_messages
            | Rule::k_on
            | Rule::k_only
            | Rule::k_ordering
            | Rule::k_otherwise
            | Rule::k_owner
            | Rule::k_ownership
            | Rule::k_partial
            | Rule::k_pass
            | Rule::k_serves
            | Rule::k_accepts
            | Rule::k_pattern
            | Rule::k_per
            | Rule::k_profile
            | Rule::k_r4
            | Rule::k_range
            | Rule::k_record
            | Rule::k_reject
            | Rule::k_rejected
            | Rule::k_retain
            | Rule::k_retry
            | Rule::k_review
            | Rule::k_route
            | Rule::k_routed
            | Rule::k_secret
            | Rule::k_segment
            | Rule::k_send
            | Rule::k_sends
            | Rule::k_sla
            | Rule::k_stage
            | Rule::k_stages
            | Rule::k_start
            | Rule::k_status
            | Rule::k_sunset
            | Rule::k_system
            | Rule::k_table
            | Rule::k_test
            | Rule::k_times
            | Rule::k_to
            | Rule::k_transform
            | Rule::k_version
            | Rule::k_via
            | Rule::k_wait
            | Rule::k_when
            | Rule::k_where
            | Rule::k_within
    )
}
